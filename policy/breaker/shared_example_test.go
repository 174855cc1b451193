package breaker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/telemetry"
)

// An opening decided elsewhere — another replica's, received as a
// wall-clock instant — opens this breaker as its own would; TrialGate
// keeps its trial calls back until something outside says they may run.
func ExampleBreaker_OpenUntil() {
	var mayTry atomic.Bool
	b := breaker.Must(breaker.Config{
		TrialGate:     mayTry.Load,
		OnStateChange: func(from, to breaker.State) { fmt.Println(from, "->", to) },
		Telemetry:     telemetry.Disabled(),
	})
	until := time.Now().Add(time.Hour) // from another process
	fmt.Println(b.OpenUntil(until))
	fmt.Println(b.OpenUntil(until.Add(-time.Minute))) // never shortened

	err := b.Execute(context.Background(), func(context.Context) error { return nil })
	wait, _ := policy.RetryAfter(err)
	fmt.Println(err != nil, wait > 59*time.Minute)
	// Output:
	// closed -> open
	// true
	// false
	// true true
}
