package ratelimit_test

import (
	"context"
	"testing"

	"github.com/palisade-go/palisade/policy/ratelimit"
	"github.com/palisade-go/palisade/telemetry"
)

// The limit is far above what a benchmark can reach, so every call is
// granted: the cost of the decision, not of refusing.
func BenchmarkAllow(b *testing.B) {
	l := ratelimit.Must(ratelimit.Config{Rate: 1e9, Burst: 1 << 20, Telemetry: telemetry.Disabled()})
	b.ReportAllocs()
	for b.Loop() {
		l.Allow()
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	l := ratelimit.Must(ratelimit.Config{Rate: 1e9, Burst: 1 << 20, Telemetry: telemetry.Disabled()})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow()
		}
	})
}

// Refusing: a limiter with its one permit taken.
func BenchmarkAllowRefused(b *testing.B) {
	l := ratelimit.Must(ratelimit.Config{Rate: 1e-3, Telemetry: telemetry.Disabled()})
	l.Allow()
	b.ReportAllocs()
	for b.Loop() {
		l.Allow()
	}
}

func BenchmarkExecute(b *testing.B) {
	l := ratelimit.Must(ratelimit.Config{Rate: 1e9, Burst: 1 << 20, Telemetry: telemetry.Disabled()})
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Execute(ctx, fn)
	}
}
