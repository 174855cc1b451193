package throttle_test

import (
	"context"
	"testing"

	"github.com/palisade-go/palisade/policy/throttle"
	"github.com/palisade-go/palisade/telemetry"
)

func BenchmarkExecute(b *testing.B) {
	th := throttle.Must(throttle.Config{Telemetry: telemetry.Disabled()})
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = th.Execute(ctx, fn)
	}
}

func BenchmarkExecuteParallel(b *testing.B) {
	th := throttle.Must(throttle.Config{Telemetry: telemetry.Disabled()})
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = th.Execute(ctx, fn)
		}
	})
}
