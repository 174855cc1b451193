package policy_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
)

type User struct{ Name string }

// The README's quickstart: four policies, the first outermost.
func ExampleNewPipeline() {
	p := policy.NewPipeline("users-api",
		retry.Must(retry.Config{MaxAttempts: 3}),
		breaker.Must(breaker.Config{FailureRatio: 0.5}),
		timeout.Must(timeout.Config{Duration: 2 * time.Second}),
		bulkhead.Must(bulkhead.Config{MaxConcurrent: 50}),
	)
	calls := 0
	user, err := policy.Get(context.Background(), p, func(ctx context.Context) (User, error) {
		calls++
		if calls == 1 {
			return User{}, errors.New("connection reset") // retried
		}
		return User{Name: "ada"}, nil
	})
	fmt.Println(user.Name, err, calls)
	// Output: ada <nil> 2
}

// Every rejection, by any policy, matches policy.ErrRejected; an open
// breaker's also says when to try again.
func ExampleRetryAfter() {
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 1, BreakDuration: time.Minute})
	_ = b.Execute(context.Background(), func(context.Context) error { return errors.New("down") })

	err := b.Execute(context.Background(), func(context.Context) error { return nil })
	wait, ok := policy.RetryAfter(err)
	fmt.Println(errors.Is(err, policy.ErrRejected), errors.Is(err, breaker.ErrOpen), ok, wait > 59*time.Second)
	// Output: true true true true
}
