package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
)

func Example() {
	b := breaker.Must(breaker.Config{
		Name:              "inventory",
		MinimumThroughput: 4,
		BreakDuration:     time.Minute,
	})
	down := errors.New("connection refused")
	for range 4 {
		err := b.Execute(context.Background(), func(ctx context.Context) error {
			return down // the dependency is down
		})
		fmt.Println(err)
	}

	err := b.Execute(context.Background(), func(ctx context.Context) error {
		panic("not called while open")
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, breaker.ErrOpen), errors.Is(err, policy.ErrRejected))
	wait, ok := policy.RetryAfter(err)
	fmt.Println(ok, wait > 59*time.Second)
	// Output:
	// connection refused
	// connection refused
	// connection refused
	// connection refused
	// palisade/breaker: inventory: circuit open
	// true true
	// true true
}

// Code that cannot be wrapped in a function takes a Permit, and reports the
// outcome to it.
func ExampleBreaker_Allow() {
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 2})
	for i := range 3 {
		permit, err := b.Allow()
		if err != nil {
			fmt.Println(i, err)
			continue
		}
		err = errors.New("timeout") // the call
		permit.Done(err)
		fmt.Println(i, "done:", err)
	}
	// Output:
	// 0 done: timeout
	// 1 done: timeout
	// 2 palisade/breaker: breaker: circuit open
}

// OnStateChange sees every transition, in order; the end of a break is seen
// by the first call or State after it.
func ExampleConfig_onStateChange() {
	b := breaker.Must(breaker.Config{
		ConsecutiveFailures: 1,
		BreakDuration:       time.Millisecond,
		SuccessThreshold:    1,
		OnStateChange: func(from, to breaker.State) {
			fmt.Println(from, "->", to)
		},
	})
	_ = b.Execute(context.Background(), func(context.Context) error { return errors.New("fail") })
	time.Sleep(time.Millisecond)
	_ = b.Execute(context.Background(), func(context.Context) error { return nil })
	// Output:
	// closed -> open
	// open -> half_open
	// half_open -> closed
}

// BreakDurationFunc backs off: each opening in a row breaks longer, until a
// trial succeeds.
func ExampleConfig_breakDurationFunc() {
	b := breaker.Must(breaker.Config{
		ConsecutiveFailures: 1,
		BreakDurationFunc: func(opens int) time.Duration {
			return time.Duration(opens) * time.Minute
		},
	})
	_ = b.Execute(context.Background(), func(context.Context) error { return errors.New("fail") })
	err := b.Execute(context.Background(), func(context.Context) error { return nil })
	wait, _ := policy.RetryAfter(err)
	fmt.Println(wait.Round(time.Minute))
	// Output:
	// 1m0s
}

// tooManyRequests is a dependency's 429 with Retry-After: 90, as
// palisadehttp reports one.
type tooManyRequests struct{}

func (tooManyRequests) Error() string             { return "429 Too Many Requests" }
func (tooManyRequests) RetryAfter() time.Duration { return 90 * time.Second }

// BreakFromRetryAfter lets the dependency set the break: the failure that
// opens the breaker asked for 90s, and gets them (capped at 5m by default).
func ExampleConfig_breakFromRetryAfter() {
	b := breaker.Must(breaker.Config{
		Name:                "quotes-api",
		ConsecutiveFailures: 1,
		BreakFromRetryAfter: true,
	})
	_ = b.Execute(context.Background(), func(context.Context) error { return tooManyRequests{} })
	err := b.Execute(context.Background(), func(context.Context) error { return nil })
	wait, _ := policy.RetryAfter(err)
	fmt.Println(err, wait.Round(time.Second))
	// Output:
	// palisade/breaker: quotes-api: circuit open 1m30s
}

// Isolate takes a dependency out of service by hand; Reset puts it back.
func ExampleBreaker_Isolate() {
	b := breaker.Must(breaker.Config{})
	b.Isolate()
	err := b.Execute(context.Background(), func(context.Context) error { return nil })
	_, hint := policy.RetryAfter(err)
	fmt.Println(b.State(), errors.Is(err, breaker.ErrOpen), hint)
	b.Reset()
	fmt.Println(b.State())
	// Output:
	// isolated true false
	// closed
}

func ExampleBreaker_Metrics() {
	b := breaker.Must(breaker.Config{WindowSize: 10})
	for i := range 8 {
		_ = b.Execute(context.Background(), func(context.Context) error {
			if i%4 == 0 {
				return errors.New("fail")
			}
			return nil
		})
	}
	m := b.Metrics()
	fmt.Println(m.State, m.Calls, m.Failures, m.FailureRatio, m.TotalCalls)
	// Output:
	// closed 8 2 0.25 8
}

// A time window counts the calls of the last WindowDuration; slow calls can
// open the breaker on their own.
func ExampleConfig_timeWindow() {
	b := breaker.Must(breaker.Config{
		WindowDuration:    time.Minute,
		SlowCallDuration:  20 * time.Millisecond,
		SlowCallRatio:     0.5,
		MinimumThroughput: 2,
	})
	_ = b.Execute(context.Background(), func(context.Context) error { return nil })
	_ = b.Execute(context.Background(), func(context.Context) error {
		time.Sleep(30 * time.Millisecond) // slow, though successful
		return nil
	})
	m := b.Metrics()
	fmt.Println(m.State, m.SlowCalls, m.Failures)
	// Output:
	// open 1 0
}
