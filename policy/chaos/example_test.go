package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/chaos"
	"github.com/palisade-go/palisade/policy/fallback"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

func Example() {
	errUnavailable := errors.New("503 service unavailable")
	// A game day: does the fallback answer when the dependency fails or
	// is too slow? The chaos policy sits innermost, in place of the
	// dependency's misbehaviour.
	p := policy.NewPipeline("recommendations",
		fallback.Must(fallback.Config{Fallback: func(context.Context, error) error { return nil }}),
		timeout.Must(timeout.Config{Duration: 50 * time.Millisecond}),
		chaos.Must(chaos.Config{Name: "outage", Probability: 1, Fault: errUnavailable}),
	)
	call := func(ctx context.Context) error { return nil }

	// Ordinary traffic is untouched; tagged traffic meets the fault, and
	// the fallback covers it.
	var plain, tagged error
	plain = p.Execute(context.Background(), call)
	tagged = chaos.Must(chaos.Config{Probability: 1, Fault: errUnavailable}).Execute(chaos.Enable(context.Background()), call)
	fmt.Println(plain, tagged)
	fmt.Println(p.Execute(chaos.Enable(context.Background()), call))
	// Output:
	// <nil> 503 service unavailable
	// <nil>
}

// Example_breakerAndRetry is a game day for the resilience of a pipeline
// itself: injected faults on tagged traffic, and the retry and the breaker
// reacting to them as they would to a real outage.
func Example_breakerAndRetry() {
	tel := telemetry.Disabled()
	errUnavailable := errors.New("503 service unavailable")
	b := breaker.Must(breaker.Config{Name: "users-api", ConsecutiveFailures: 3, BreakDuration: time.Minute, Telemetry: tel})
	p := policy.NewPipeline("users-api",
		retry.Must(retry.Config{MaxAttempts: 2, BackOff: func() backoff.BackOff { return &backoff.ZeroBackOff{} }, Telemetry: tel}),
		b,
		chaos.Must(chaos.Config{Name: "game-day", Probability: 1, Fault: errUnavailable, Telemetry: tel}),
	).WithTelemetry(tel)
	call := func(context.Context) error { return nil }

	tagged := chaos.Enable(context.Background())
	for i := range 2 {
		err := p.Execute(tagged, call)
		fmt.Printf("tagged call %d: %v; breaker %v\n", i+1, err, b.State())
	}
	err := p.Execute(context.Background(), call)
	fmt.Printf("untagged call: rejected: %v\n", errors.Is(err, breaker.ErrOpen))
	// Output:
	// tagged call 1: palisade/retry: retry: gave up after 2 attempts: 503 service unavailable; breaker closed
	// tagged call 2: palisade/retry: retry: gave up after 2 attempts: palisade/breaker: users-api: circuit open; breaker open
	// untagged call: rejected: true
}
