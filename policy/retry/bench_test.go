package retry_test

import (
	"context"
	"testing"

	"github.com/cenkalti/backoff/v4"

	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

func succeed(context.Context) error { return nil }

func BenchmarkSuccessFirstAttempt(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  retry.Config
	}{
		{"telemetry-off", retry.Config{Telemetry: telemetry.Disabled()}},
		{"telemetry-default", retry.Config{}},
		{"max-duration", retry.Config{MaxDuration: 1e9, Telemetry: telemetry.Disabled()}},
		{"budget", retry.Config{Budget: budget.Must(budget.Config{Ratio: 0.1}), Telemetry: telemetry.Disabled()}},
	} {
		r := retry.Must(bc.cfg)
		ctx := context.Background()
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Execute(ctx, succeed); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := r.Execute(ctx, succeed); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkThreeAttemptsZeroDelay(b *testing.B) {
	r := retry.Must(retry.Config{
		MaxAttempts: 3,
		BackOff:     func() backoff.BackOff { return &backoff.ZeroBackOff{} },
		Telemetry:   telemetry.Disabled(),
	})
	ctx := context.Background()
	fn := func(ctx context.Context) error {
		if retry.Attempt(ctx) < 3 {
			return errBoom
		}
		return nil
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Execute(ctx, fn); err != nil {
			b.Fatal(err)
		}
	}
}
