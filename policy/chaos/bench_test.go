package chaos_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/palisade-go/palisade/policy/chaos"
	"github.com/palisade-go/palisade/telemetry"
)

// BenchmarkDisabled is the cost of a chaos policy left in a pipeline for
// ordinary traffic: ≤ 5 ns, 0 allocs.
func BenchmarkDisabled(b *testing.B) {
	c := chaos.Must(chaos.Config{Probability: 1, Fault: errors.New("x"), Telemetry: telemetry.Disabled()})
	nop := func(context.Context) error { return nil }
	type k struct{}
	for name, ctx := range map[string]context.Context{
		"background": context.Background(),
		// A request's usual context: a span and a value or two.
		"request": context.WithValue(trace.ContextWithSpanContext(context.WithValue(context.Background(), k{}, 1), trace.SpanContext{}), k{}, 2),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = c.Execute(ctx, nop)
			}
		})
		// The floor: the function alone, and one context lookup (the
		// policy makes two: its mark and the baggage).
		b.Run(name+"/floor: direct", func(b *testing.B) {
			for b.Loop() {
				_ = nop(ctx)
			}
		})
		b.Run(name+"/floor: one ctx.Value", func(b *testing.B) {
			for b.Loop() {
				if ctx.Value(k{}) == nil {
					_ = nop(ctx)
				}
			}
		})
	}
}

func BenchmarkEnabledFault(b *testing.B) {
	c := chaos.Must(chaos.Config{Probability: 0.5, Fault: errors.New("x"), Telemetry: telemetry.Disabled()})
	ctx := chaos.Enable(context.Background())
	nop := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Execute(ctx, nop)
	}
}
