package limiter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/limiter"
	"github.com/palisade-go/palisade/telemetry"
)

// A limiter in front of a dependency: calls beyond the limit are refused at
// once with ErrLimited, which matches policy.ErrRejected.
func Example() {
	l := limiter.Must(limiter.Config{
		Name:         "inventory",
		InitialLimit: 1, // adapts from here, between MinLimit and MaxLimit
		Telemetry:    telemetry.Disabled(),
	})
	ctx := context.Background()
	_ = l.Execute(ctx, func(ctx context.Context) error {
		// While this call runs, the limit of 1 is reached.
		err := l.Execute(ctx, func(context.Context) error { return nil })
		fmt.Println(errors.Is(err, limiter.ErrLimited), errors.Is(err, policy.ErrRejected))
		return nil
	})
	fmt.Println("limit", l.Limit(), "in flight", l.InFlight())
	// Output:
	// true true
	// limit 1 in flight 0
}

// For an HTTP client, count 503 and 429 answers as drops, the dependency's
// own signs of overload, besides timeouts.
func Example_drops() {
	errOverloaded := errors.New("overloaded")
	l := limiter.Must(limiter.Config{
		Algorithm: limiter.Gradient2,
		IsDropped: func(err error) bool {
			return errors.Is(err, errOverloaded) || errors.Is(err, context.DeadlineExceeded)
		},
		Telemetry: telemetry.Disabled(),
	})
	err := l.Execute(context.Background(), func(ctx context.Context) error {
		status := http.StatusServiceUnavailable // from the response
		if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
			return errOverloaded
		}
		return nil
	})
	fmt.Println(err)
	// Output: overloaded
}
