package benchmarks

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/hedgepolicy"

	"github.com/palisade-go/palisade/policy/chaos"
	"github.com/palisade-go/palisade/policy/hedge"
	"github.com/palisade-go/palisade/telemetry"
)

// BenchmarkHedgeNoHedge is a hedge around a function that succeeds before
// the delay: the path of nearly every hedged call. "impl=direct" is the
// function alone, the floor.
func BenchmarkHedgeNoHedge(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=direct", func(b *testing.B) {
		run(b, func() { _ = succeed(ctx) })
	})
	b.Run("impl=failsafe/delay=fixed", func(b *testing.B) {
		ex := failsafe.With[any](hedgepolicy.NewWithDelay[any](time.Second))
		run(b, func() { _ = ex.Run(func() error { return nil }) })
	})
	b.Run("impl=failsafe/delay=quantile", func(b *testing.B) {
		ex := failsafe.With[any](hedgepolicy.NewWithDelayQuantile[any](0.95, 100, 20))
		run(b, func() { _ = ex.Run(func() error { return nil }) })
	})
	b.Run("impl=palisade/delay=fixed", func(b *testing.B) {
		h := hedge.Must(hedge.Config{Delay: time.Second, Telemetry: telemetry.Disabled()})
		run(b, func() { _ = h.Execute(ctx, succeed) })
	})
	b.Run("impl=palisade/delay=quantile", func(b *testing.B) {
		h := hedge.Must(hedge.Config{Telemetry: telemetry.Disabled()})
		run(b, func() { _ = h.Execute(ctx, succeed) })
	})
}

// BenchmarkChaosDisabled is a chaos policy left in a pipeline for a call
// not enabled for chaos (the design's target: ≤ 5 ns added, 0 allocs),
// with the function alone as "impl=direct".
func BenchmarkChaosDisabled(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=direct", func(b *testing.B) {
		run(b, func() { _ = succeed(ctx) })
	})
	b.Run("impl=palisade", func(b *testing.B) {
		c := chaos.Must(chaos.Config{Probability: 1, Fault: errService, Telemetry: telemetry.Disabled()})
		run(b, func() { _ = c.Execute(ctx, succeed) })
	})
}
