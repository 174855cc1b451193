package hedge_test

import (
	"context"
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/hedge"
)

func Example() {
	// Hedge calls slower than 20ms. MaxExtraRatio 1 lets every call be
	// hedged; the default, 0.1, allows a hedge per 10 calls in the last 10s
	// (so none to this example's single call).
	h := hedge.Must(hedge.Config{Name: "replicas", Delay: 20 * time.Millisecond, MaxExtraRatio: 1})
	p := policy.NewPipeline("read-user", h)

	// The first attempt reaches a replica stuck in a garbage collection;
	// the hedge, sent 20ms later, reaches a healthy one.
	replica, err := policy.Get(context.Background(), p, func(ctx context.Context) (string, error) {
		if hedge.Attempt(ctx) == 1 {
			select {
			case <-time.After(time.Second):
				return "slow replica", nil
			case <-ctx.Done(): // cancelled with hedge.ErrLost once the hedge won
				return "", context.Cause(ctx)
			}
		}
		return "fast replica", nil
	})
	fmt.Println(replica, err)
	// Output: fast replica <nil>
}

// A transport hedges only requests that are safe to send twice.
func ExampleDisable() {
	h := hedge.Must(hedge.Config{Delay: time.Millisecond, MaxExtraRatio: 1})
	ctx := hedge.Disable(context.Background()) // say, for a POST
	attempts := 0
	_ = h.Execute(ctx, func(ctx context.Context) error {
		attempts++ // runs on the caller's goroutine: no hedge, no race
		time.Sleep(10 * time.Millisecond)
		return nil
	})
	fmt.Println(attempts, hedge.Allowed(ctx))
	// Output: 1 false
}
