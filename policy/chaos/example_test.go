package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/chaos"
	"github.com/palisade-go/palisade/policy/fallback"
	"github.com/palisade-go/palisade/policy/timeout"
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
