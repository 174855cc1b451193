package policy_test

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// benchTelemetry is the set of telemetry settings every pipeline benchmark
// runs under.
func benchTelemetry() []struct {
	name string
	tel  *telemetry.Telemetry
} {
	metricsOnly := telemetry.New(
		telemetry.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))),
		telemetry.WithTracerProvider(noop.NewTracerProvider()))
	full := telemetry.New(
		telemetry.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))),
		telemetry.WithTracerProvider(sdktrace.NewTracerProvider()))
	return []struct {
		name string
		tel  *telemetry.Telemetry
	}{
		{"telemetry=off", telemetry.Disabled()},
		{"telemetry=global-noop", telemetry.Default()},
		{"telemetry=sdk-metrics", metricsOnly},
		{"telemetry=sdk-metrics+traces", full},
	}
}

func BenchmarkPipelineEmpty(b *testing.B) {
	for _, bt := range benchTelemetry() {
		b.Run(bt.name, func(b *testing.B) {
			p := policy.NewPipeline("bench").WithTelemetry(bt.tel)
			benchPipeline(b, p)
		})
	}
}

func BenchmarkPipelineTimeout(b *testing.B) {
	for _, bt := range benchTelemetry() {
		b.Run(bt.name, func(b *testing.B) {
			to := timeout.Must(timeout.Config{Duration: time.Second, Telemetry: bt.tel})
			p := policy.NewPipeline("bench", to).WithTelemetry(bt.tel)
			benchPipeline(b, p)
		})
	}
}

// BenchmarkPipelineChain measures the cost of composition alone: eight
// policies that only pass the call on.
func BenchmarkPipelineChain8(b *testing.B) {
	ps := make([]policy.Policy, 8)
	for i := range ps {
		ps[i] = passthrough{}
	}
	benchPipeline(b, policy.NewPipeline("bench", ps...).WithTelemetry(telemetry.Disabled()))
}

func benchPipeline(b *testing.B, p *policy.Pipeline) {
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Execute(ctx, fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet is Get through four sequential policies: one allocation, for
// the call's result.
func BenchmarkGet(b *testing.B) {
	p := policy.NewPipeline("p", passthrough{}, passthrough{}, passthrough{}, passthrough{}).WithTelemetry(telemetry.Disabled())
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = policy.Get(ctx, p, fn)
	}
}

// BenchmarkPipelineUndeclared is a call through a pipeline with a policy
// that declares no attempt mode above one that does: the frame made per call
// for the policies below it.
func BenchmarkPipelineUndeclared(b *testing.B) {
	p := policy.NewPipeline("p", passthrough{}, undeclared{}, passthrough{}).WithTelemetry(telemetry.Disabled())
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Execute(ctx, fn)
	}
}
