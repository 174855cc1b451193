package hedge_test

import (
	"context"
	"testing"
	"time"

	"github.com/palisade-go/palisade/policy/hedge"
	"github.com/palisade-go/palisade/telemetry"
)

func nop(context.Context) error { return nil }

// BenchmarkNoHedge is the cost a hedge adds to a call that succeeds before
// its delay: the path of nearly every call.
func BenchmarkNoHedge(b *testing.B) {
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = nop(ctx)
		}
	})
	for _, c := range []struct {
		name string
		cfg  hedge.Config
	}{
		{"fixed", hedge.Config{Delay: time.Second}},
		{"quantile", hedge.Config{}},
	} {
		c.cfg.Telemetry = telemetry.Disabled()
		h := hedge.Must(c.cfg)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = h.Execute(ctx, nop)
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = h.Execute(ctx, nop)
				}
			})
		})
	}
	h := hedge.Must(hedge.Config{Delay: time.Second, Telemetry: telemetry.Disabled()})
	disabled := hedge.Disable(ctx)
	b.Run("disabled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = h.Execute(disabled, nop)
		}
	})
}
