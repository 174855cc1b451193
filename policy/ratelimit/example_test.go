package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/ratelimit"
	"github.com/palisade-go/palisade/telemetry"
)

// A limiter of 2 calls per second with bursts of 3: three calls pass at
// once, the fourth is refused with the time to the next permit.
func Example() {
	l := ratelimit.Must(ratelimit.Config{
		Name:      "geocoder",
		Rate:      2,
		Burst:     3,
		Telemetry: telemetry.Disabled(),
	})
	call := func(context.Context) error { return nil }
	for i := range 3 {
		fmt.Println(i+1, l.Execute(context.Background(), call))
	}
	err := l.Execute(context.Background(), call)
	after, _ := policy.RetryAfter(err)
	fmt.Println(errors.Is(err, ratelimit.ErrLimited), errors.Is(err, policy.ErrRejected))
	fmt.Println("retry after", after.Round(100*time.Millisecond)) // 1/Rate, less the time since the burst
	// Output:
	// 1 <nil>
	// 2 <nil>
	// 3 <nil>
	// true true
	// retry after 500ms
}

// With MaxWait, a call waits for the next permit instead of being refused:
// callers are spaced 1/Rate apart, first come first served.
func Example_wait() {
	l := ratelimit.Must(ratelimit.Config{
		Rate:      100, // one call per 10ms
		MaxWait:   time.Second,
		Telemetry: telemetry.Disabled(),
	})
	start := time.Now()
	for range 5 {
		if err := l.Wait(context.Background()); err != nil {
			fmt.Println(err)
		}
	}
	elapsed := time.Since(start)
	fmt.Println(elapsed >= 40*time.Millisecond)
	// Output: true
}

// Allow takes a permit without waiting, for a caller that has something
// else to do when there is none (drop a log line, serve a cached answer).
func ExampleRateLimiter_Allow() {
	l := ratelimit.Must(ratelimit.Config{Rate: 1, Telemetry: telemetry.Disabled()})
	fmt.Println(l.Allow(), l.Allow())
	// Output: true false
}
