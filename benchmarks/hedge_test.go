package benchmarks

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/hedgepolicy"

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
