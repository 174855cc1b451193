package limiter_test

import (
	"context"
	"testing"

	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/limiter"
	"github.com/palisade-go/palisade/telemetry"
)

var noop = func(context.Context) error { return nil }

// BenchmarkExecute measures a call with a slot free, against a bulkhead's
// in the same run (the target: at most twice its cost).
func BenchmarkExecute(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=bulkhead", func(b *testing.B) {
		bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 100, Telemetry: telemetry.Disabled()})
		b.ReportAllocs()
		for b.Loop() {
			_ = bh.Execute(ctx, noop)
		}
	})
	b.Run("impl=limiter", func(b *testing.B) {
		l := limiter.Must(limiter.Config{InitialLimit: 100, Telemetry: telemetry.Disabled()})
		b.ReportAllocs()
		for b.Loop() {
			_ = l.Execute(ctx, noop)
		}
	})
}

func BenchmarkExecuteParallel(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=bulkhead", func(b *testing.B) {
		bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 100, Telemetry: telemetry.Disabled()})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = bh.Execute(ctx, noop)
			}
		})
	})
	b.Run("impl=limiter", func(b *testing.B) {
		l := limiter.Must(limiter.Config{InitialLimit: 100, Telemetry: telemetry.Disabled()})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = l.Execute(ctx, noop)
			}
		})
	})
}
