package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

func Example() {
	r := retry.Must(retry.Config{
		Name:        "users",
		MaxAttempts: 4,
		BackOff: func() backoff.BackOff {
			return backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(time.Millisecond),
				backoff.WithMultiplier(2),
				backoff.WithRandomizationFactor(0),
				backoff.WithMaxElapsedTime(0))
		},
		OnRetry: func(attempt int, err error, delay time.Duration) {
			fmt.Printf("attempt %d in %v after: %v\n", attempt, delay, err)
		},
		Telemetry: telemetry.Disabled(),
	})

	err := r.Execute(context.Background(), func(ctx context.Context) error {
		if n := retry.Attempt(ctx); n < 3 {
			return fmt.Errorf("attempt %d: connection reset", n)
		}
		fmt.Println("attempt 3 succeeded")
		return nil
	})
	fmt.Println("error:", err)
	// Output:
	// attempt 2 in 1ms after: attempt 1: connection reset
	// attempt 3 in 2ms after: attempt 2: connection reset
	// attempt 3 succeeded
	// error: <nil>
}

func Example_exhausted() {
	r := retry.Must(retry.Config{
		MaxAttempts: 3,
		BackOff:     func() backoff.BackOff { return &backoff.ZeroBackOff{} },
		Telemetry:   telemetry.Disabled(),
	})
	errDown := errors.New("service down")
	err := r.Execute(context.Background(), func(context.Context) error { return errDown })

	var ex *retry.Error
	fmt.Println(errors.As(err, &ex), ex.Attempts)
	fmt.Println(errors.Is(err, retry.ErrExhausted), errors.Is(err, errDown))
	// Output:
	// true 3
	// true true
}

func Example_permanent() {
	r := retry.Must(retry.Config{Telemetry: telemetry.Disabled()})
	errNotFound := errors.New("not found")
	attempts := 0
	err := r.Execute(context.Background(), func(context.Context) error {
		attempts++
		return backoff.Permanent(errNotFound) // retrying cannot help
	})
	fmt.Println(attempts, err == errNotFound)
	// Output: 1 true
}

// tooManyRequests is an HTTP 429 carrying its Retry-After header.
type tooManyRequests struct{ retryAfter time.Duration }

func (e *tooManyRequests) Error() string             { return "429 Too Many Requests" }
func (e *tooManyRequests) RetryAfter() time.Duration { return e.retryAfter }

func Example_retryAfter() {
	// The server asks for a minute, longer than the retry waits for a hint
	// (Config.MaxRetryAfter, 1s by default). Rather than sleep through it,
	// the retry returns the server's answer at once, hint included, for the
	// caller to decide.
	r := retry.Must(retry.Config{Telemetry: telemetry.Disabled()})
	start := time.Now()
	err := r.Execute(context.Background(), func(context.Context) error {
		return &tooManyRequests{retryAfter: time.Minute}
	})
	hint, _ := policy.RetryAfter(err)
	fmt.Println(err)
	fmt.Println("retry after:", hint, "returned at once:", time.Since(start) < time.Second)
	// Output:
	// 429 Too Many Requests
	// retry after: 1m0s returned at once: true
}

func ExampleBudget() {
	// One budget for every caller of the users service: retries may add at
	// most 10% to its load, plus 2 retries per window for quiet periods.
	budget := budget.Must(budget.Config{Ratio: 0.1, MinExtra: 2, Window: 10 * time.Second})
	r := retry.Must(retry.Config{
		MaxAttempts: retry.Unlimited,
		BackOff:     func() backoff.BackOff { return &backoff.ZeroBackOff{} },
		Budget:      budget,
		Telemetry:   telemetry.Disabled(),
	})

	attempts := 0
	err := r.Execute(context.Background(), func(context.Context) error {
		attempts++
		return errors.New("unavailable")
	})
	fmt.Println("attempts:", attempts)
	fmt.Println(errors.Is(err, retry.ErrBudgetExhausted), errors.Is(err, policy.ErrRejected))
	// Output:
	// attempts: 3
	// true true
}

func ExampleAttempt() {
	r := retry.Must(retry.Config{
		BackOff:   func() backoff.BackOff { return &backoff.ZeroBackOff{} },
		Telemetry: telemetry.Disabled(),
	})
	_ = r.Execute(context.Background(), func(ctx context.Context) error {
		fmt.Println("attempt", retry.Attempt(ctx))
		if retry.Attempt(ctx) == 1 {
			return errors.New("flaky")
		}
		return nil
	})
	// Output:
	// attempt 1
	// attempt 2
}
