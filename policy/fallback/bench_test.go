package fallback_test

import (
	"context"
	"errors"
	"testing"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy/fallback"
	"github.com/palisade-go/palisade/telemetry"
)

func BenchmarkFallback(b *testing.B) {
	ctx := context.Background()
	errBoom := errors.New("boom")
	ok := func(context.Context) error { return nil }
	fails := func(context.Context) error { return errBoom }
	for _, c := range []struct {
		name string
		tel  *telemetry.Telemetry
	}{{"telemetry off", telemetry.Disabled()}, {"sdk", oteltest.New().Telemetry}} {
		f := fallback.Must(fallback.Config{Fallback: func(context.Context, error) error { return nil }, Telemetry: c.tel})
		b.Run(c.name+"/success", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = f.Execute(ctx, ok)
			}
		})
		b.Run(c.name+"/replaced", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = f.Execute(ctx, fails)
			}
		})
	}
}
