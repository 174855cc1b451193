package timeout_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy/timeout"
)

func Example() {
	to := timeout.Must(timeout.Config{Name: "slow-api", Duration: 10 * time.Millisecond})
	err := to.Execute(context.Background(), func(ctx context.Context) error {
		select {
		case <-time.After(time.Second): // the dependency is too slow
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	fmt.Println(errors.Is(err, timeout.ErrTimeout))
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output:
	// true
	// true
}
