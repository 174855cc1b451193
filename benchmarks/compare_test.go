package benchmarks

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	fsbreaker "github.com/failsafe-go/failsafe-go/circuitbreaker"
	fsretry "github.com/failsafe-go/failsafe-go/retrypolicy"
	fstimeout "github.com/failsafe-go/failsafe-go/timeout"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// Sub-benchmarks are named impl=<library> so that benchstat can put the
// libraries side by side: benchstat -col /impl.

var (
	errService = errors.New("service unavailable")
	succeed    = func(context.Context) error { return nil }
	fail       = func(context.Context) error { return errService }
)

// The same breaker everywhere: open at a 50% failure ratio over the last 100
// calls once 10 have been seen (failsafe-go: 50 of 100; gobreaker has no
// window of its own, so its ReadyToTrip applies the same ratio to its counts).
func palisadeBreaker(cfg breaker.Config) *breaker.Breaker {
	cfg.Telemetry = telemetry.Disabled()
	return breaker.Must(cfg)
}

func gobreakerBreaker() *gobreaker.CircuitBreaker[any] {
	return gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:    "bench",
		Timeout: time.Minute,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.Requests >= 10 && float64(c.TotalFailures)/float64(c.Requests) >= 0.5
		},
	})
}

func failsafeBreaker() fsbreaker.CircuitBreaker[any] {
	return fsbreaker.NewBuilder[any]().
		WithFailureThresholdRatio(50, 100).
		WithDelay(time.Minute).
		Build()
}

func BenchmarkBreakerClosed(b *testing.B) {
	b.Run("impl=gobreaker", func(b *testing.B) {
		cb := gobreakerBreaker()
		run(b, func() { _, _ = cb.Execute(func() (any, error) { return nil, nil }) })
	})
	b.Run("impl=failsafe", func(b *testing.B) {
		ex := failsafe.With[any](failsafeBreaker())
		run(b, func() { _ = ex.Run(func() error { return nil }) })
	})
	b.Run("impl=palisade", func(b *testing.B) {
		cb := palisadeBreaker(breaker.Config{})
		run(b, func() { _ = cb.Execute(context.Background(), succeed) })
	})
}

func BenchmarkBreakerClosedParallel(b *testing.B) {
	b.Run("impl=gobreaker", func(b *testing.B) {
		cb := gobreakerBreaker()
		runParallel(b, func() { _, _ = cb.Execute(func() (any, error) { return nil, nil }) })
	})
	b.Run("impl=failsafe", func(b *testing.B) {
		ex := failsafe.With[any](failsafeBreaker())
		runParallel(b, func() { _ = ex.Run(func() error { return nil }) })
	})
	b.Run("impl=palisade", func(b *testing.B) {
		cb := palisadeBreaker(breaker.Config{})
		runParallel(b, func() { _ = cb.Execute(context.Background(), succeed) })
	})
}

func BenchmarkBreakerOpen(b *testing.B) {
	b.Run("impl=gobreaker", func(b *testing.B) {
		cb := gobreakerBreaker()
		for range 10 {
			_, _ = cb.Execute(func() (any, error) { return nil, errService })
		}
		if cb.State() != gobreaker.StateOpen {
			b.Fatal("gobreaker did not open")
		}
		run(b, func() { _, _ = cb.Execute(func() (any, error) { return nil, nil }) })
	})
	b.Run("impl=failsafe", func(b *testing.B) {
		cb := failsafeBreaker()
		cb.Open()
		ex := failsafe.With[any](cb)
		run(b, func() { _ = ex.Run(func() error { return nil }) })
	})
	b.Run("impl=palisade", func(b *testing.B) {
		cb := palisadeBreaker(breaker.Config{BreakDuration: time.Hour})
		for range 10 {
			_ = cb.Execute(context.Background(), fail)
		}
		if cb.State() != breaker.Open {
			b.Fatal("palisade breaker did not open")
		}
		if err := cb.Execute(context.Background(), succeed); !errors.Is(err, breaker.ErrOpen) {
			b.Fatal(err)
		}
		// As gobreaker's loop, which ignores the result: only that the call
		// was refused (succeed would have returned nil).
		run(b, func() {
			if cb.Execute(context.Background(), succeed) == nil {
				b.Fatal("not rejected")
			}
		})
	})
}

// BenchmarkBreakerTimeWindow compares breakers that judge the failures of a
// period of time rather than of the last N calls.
func BenchmarkBreakerTimeWindow(b *testing.B) {
	b.Run("impl=gobreaker", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
			Name:         "bench",
			Interval:     10 * time.Second,
			BucketPeriod: time.Second, // a rolling window of ten 1 s buckets
			Timeout:      time.Minute,
		})
		run(b, func() { _, _ = cb.Execute(func() (any, error) { return nil, nil }) })
	})
	b.Run("impl=failsafe", func(b *testing.B) {
		cb := fsbreaker.NewBuilder[any]().
			WithFailureRateThreshold(0.5, 10, 10*time.Second).
			WithDelay(time.Minute).
			Build()
		ex := failsafe.With[any](cb)
		run(b, func() { _ = ex.Run(func() error { return nil }) })
	})
	b.Run("impl=palisade", func(b *testing.B) {
		cb := palisadeBreaker(breaker.Config{WindowDuration: 10 * time.Second})
		run(b, func() { _ = cb.Execute(context.Background(), succeed) })
	})
}

// BenchmarkBreakerWindowSize shows that a palisade window costs the same per
// call whatever its size.
func BenchmarkBreakerWindowSize(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  breaker.Config
	}{
		{"window=count-100", breaker.Config{WindowSize: 100}},
		{"window=count-10000", breaker.Config{WindowSize: 10000}},
		{"window=time-1s", breaker.Config{WindowDuration: time.Second}},
		{"window=time-1h", breaker.Config{WindowDuration: time.Hour}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cb := palisadeBreaker(tc.cfg)
			// Mixed outcomes, below the failure ratio, so that every call
			// updates the window's counts.
			i := 0
			run(b, func() {
				i++
				if i%10 == 0 {
					_ = cb.Execute(context.Background(), fail)
				} else {
					_ = cb.Execute(context.Background(), succeed)
				}
			})
			if cb.State() != breaker.Closed {
				b.Fatal("breaker opened")
			}
		})
	}
}

// BenchmarkPipeline runs the four policies retry → breaker → timeout →
// bulkhead around a function that succeeds.
// BenchmarkFloor is the least any cooperative timeout costs per call: one
// context.WithDeadlineCause, its cancel and the call (impl=deadline); and
// with it what reporting a call's duration to an OTel SDK needs at the
// least: two clock reads and one histogram record with prebuilt attributes
// (impl=deadline+sdk-histogram). The pipeline's targets are stated against
// these floors, measured in the same run.
func BenchmarkFloor(b *testing.B) {
	errTimeout := errors.New("timeout")
	b.Run("impl=deadline", func(b *testing.B) {
		ctx := context.Background()
		run(b, func() {
			callCtx, cancel := context.WithDeadlineCause(ctx, time.Now().Add(time.Second), errTimeout)
			_ = succeed(callCtx)
			cancel()
		})
	})
	b.Run("impl=deadline+sdk-histogram", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		h, err := mp.Meter("floor").Float64Histogram("floor.duration")
		if err != nil {
			b.Fatal(err)
		}
		opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("palisade.pipeline.name", "bench")))}
		ctx := context.Background()
		run(b, func() {
			start := time.Now() // the call's duration's; the deadline's is its own, as in the deadline floor
			callCtx, cancel := context.WithDeadlineCause(ctx, time.Now().Add(time.Second), errTimeout)
			_ = succeed(callCtx)
			cancel()
			h.Record(ctx, time.Since(start).Seconds(), opts...)
		})
	})
}

func BenchmarkPipeline(b *testing.B) {
	sdkMetrics := func() *telemetry.Telemetry {
		return telemetry.New(
			telemetry.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))),
			telemetry.WithTracerProvider(noop.NewTracerProvider()))
	}
	sdkAll := func() *telemetry.Telemetry {
		return telemetry.New(
			telemetry.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))),
			telemetry.WithTracerProvider(sdktrace.NewTracerProvider()))
	}
	b.Run("impl=failsafe/telemetry=off", func(b *testing.B) {
		ex := failsafePipeline()
		run(b, func() {
			if err := ex.Run(func() error { return nil }); err != nil {
				b.Fatal(err)
			}
		})
	})
	for _, tc := range []struct {
		name string
		tel  func() *telemetry.Telemetry
	}{
		{"impl=palisade/telemetry=off", telemetry.Disabled},
		{"impl=palisade/telemetry=sdk-metrics", sdkMetrics},
		{"impl=palisade/telemetry=sdk-metrics+traces", sdkAll},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := palisadePipeline(tc.tel())
			ctx := context.Background()
			run(b, func() {
				if err := p.Execute(ctx, succeed); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
	b.Run("impl=palisade-get/telemetry=off", func(b *testing.B) {
		p := palisadePipeline(telemetry.Disabled())
		ctx := context.Background()
		fn := func(context.Context) (int, error) { return 1, nil }
		run(b, func() {
			if _, err := policy.Get(ctx, p, fn); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkPipelineNoTimeout runs retry → breaker → bulkhead: the pipeline
// without its timeout, whose cost in both libraries is mostly the runtime
// timer and context that any cooperative timeout needs.
func BenchmarkPipelineNoTimeout(b *testing.B) {
	b.Run("impl=failsafe/telemetry=off", func(b *testing.B) {
		ex := failsafe.With[any](
			fsretry.NewBuilder[any]().WithMaxAttempts(3).WithBackoff(100*time.Millisecond, 10*time.Second).Build(),
			failsafeBreaker(),
			fsbulkhead.New[any](100),
		)
		run(b, func() { _ = ex.Run(func() error { return nil }) })
	})
	b.Run("impl=palisade/telemetry=off", func(b *testing.B) {
		tel := telemetry.Disabled()
		p := policy.NewPipeline("bench",
			retry.Must(retry.Config{MaxAttempts: 3, Telemetry: tel}),
			breaker.Must(breaker.Config{Telemetry: tel}),
			bulkhead.Must(bulkhead.Config{MaxConcurrent: 100, Telemetry: tel}),
		).WithTelemetry(tel)
		ctx := context.Background()
		run(b, func() { _ = p.Execute(ctx, succeed) })
	})
}

// BenchmarkTimeoutAlone is the cost of one timeout policy around a function
// that succeeds: context.WithDeadline and its runtime timer, in palisade.
func BenchmarkTimeoutAlone(b *testing.B) {
	b.Run("impl=failsafe", func(b *testing.B) {
		ex := failsafe.With[any](fstimeout.New[any](time.Second))
		run(b, func() { _ = ex.Run(func() error { return nil }) })
	})
	b.Run("impl=palisade", func(b *testing.B) {
		to := timeout.Must(timeout.Config{Duration: time.Second, Telemetry: telemetry.Disabled()})
		ctx := context.Background()
		run(b, func() { _ = to.Execute(ctx, succeed) })
	})
}

func BenchmarkPipelineParallel(b *testing.B) {
	b.Run("impl=failsafe/telemetry=off", func(b *testing.B) {
		ex := failsafePipeline()
		runParallel(b, func() { _ = ex.Run(func() error { return nil }) })
	})
	b.Run("impl=palisade/telemetry=off", func(b *testing.B) {
		p := palisadePipeline(telemetry.Disabled())
		runParallel(b, func() { _ = p.Execute(context.Background(), succeed) })
	})
}

func palisadePipeline(tel *telemetry.Telemetry) *policy.Pipeline {
	return policy.NewPipeline("bench",
		retry.Must(retry.Config{MaxAttempts: 3, Telemetry: tel}),
		breaker.Must(breaker.Config{Telemetry: tel}),
		timeout.Must(timeout.Config{Duration: time.Second, Telemetry: tel}),
		bulkhead.Must(bulkhead.Config{MaxConcurrent: 100, Telemetry: tel}),
	).WithTelemetry(tel)
}

func failsafePipeline() failsafe.Executor[any] {
	return failsafe.With[any](
		fsretry.NewBuilder[any]().WithMaxAttempts(3).WithBackoff(100*time.Millisecond, 10*time.Second).Build(),
		failsafeBreaker(),
		fstimeout.New[any](time.Second),
		fsbulkhead.New[any](100),
	)
}

func run(b *testing.B, call func()) {
	b.ReportAllocs()
	for b.Loop() {
		call()
	}
}

func runParallel(b *testing.B, call func()) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			call()
		}
	})
}
