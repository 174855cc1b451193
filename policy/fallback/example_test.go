package fallback_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/fallback"
	"github.com/palisade-go/palisade/policy/timeout"
)

func Example() {
	// Serve the last known price when the pricing service fails.
	lastPrice := 42
	price := 0
	fb := fallback.Must(fallback.Config{
		Name: "last-price",
		Fallback: func(ctx context.Context, err error) error {
			price = lastPrice
			return nil
		},
	})
	p := policy.NewPipeline("pricing", fb, timeout.Must(timeout.Config{Duration: 10 * time.Millisecond}))
	err := p.Execute(context.Background(), func(ctx context.Context) error {
		<-ctx.Done() // the pricing service is too slow today
		return ctx.Err()
	})
	fmt.Println(price, err)
	// Output: 42 <nil>
}

func ExampleGet() {
	br := breaker.Must(breaker.Config{})
	br.Isolate() // the dependency is known to be down
	p := policy.NewPipeline("profiles", br)

	name, err := fallback.Get(context.Background(), p,
		func(ctx context.Context) (string, error) { return "from the service", nil },
		func(ctx context.Context, err error) (string, error) {
			if errors.Is(err, breaker.ErrOpen) {
				return "anonymous", nil
			}
			return "", err
		})
	fmt.Println(name, err)
	// Output: anonymous <nil>
}
