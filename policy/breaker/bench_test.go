package breaker_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/telemetry"
)

func succeed(context.Context) error { return nil }

func benchExecute(b *testing.B, br *breaker.Breaker) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := br.Execute(ctx, succeed); err != nil {
			b.Fatal(err)
		}
	}
}

func benchExecuteParallel(b *testing.B, br *breaker.Breaker) {
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := br.Execute(ctx, succeed); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkClosedSuccess is the closed-state success path of a count window:
// no lock, no clock read, no allocation.
func BenchmarkClosedSuccess(b *testing.B) {
	benchExecute(b, breaker.Must(breaker.Config{Telemetry: telemetry.Disabled()}))
}

// BenchmarkClosedSuccessParallel is BenchmarkClosedSuccess on every core.
func BenchmarkClosedSuccessParallel(b *testing.B) {
	benchExecuteParallel(b, breaker.Must(breaker.Config{Telemetry: telemetry.Disabled()}))
}

// BenchmarkClosedSuccessTelemetry is BenchmarkClosedSuccess reporting to an
// OTel SDK meter provider: nothing is recorded per successful call.
func BenchmarkClosedSuccessTelemetry(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	benchExecute(b, breaker.Must(breaker.Config{Telemetry: telemetry.New(telemetry.WithMeterProvider(mp))}))
}

// BenchmarkClosedSuccessDefaultTelemetry is BenchmarkClosedSuccess with the
// default (global) telemetry.
func BenchmarkClosedSuccessDefaultTelemetry(b *testing.B) {
	benchExecute(b, breaker.Must(breaker.Config{}))
}

// BenchmarkAllow is the two-step closed success path.
func BenchmarkAllow(b *testing.B) {
	br := breaker.Must(breaker.Config{Telemetry: telemetry.Disabled()})
	b.ReportAllocs()
	for b.Loop() {
		p, err := br.Allow()
		if err != nil {
			b.Fatal(err)
		}
		p.Done(nil)
	}
}

// BenchmarkOpenReject is the rejection of an open breaker.
func BenchmarkOpenReject(b *testing.B) {
	br := breaker.Must(breaker.Config{Telemetry: telemetry.Disabled(), BreakDuration: time.Hour})
	openBreaker(b, br)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := br.Execute(ctx, succeed); err == nil {
			b.Fatal("not rejected")
		}
	}
}

// BenchmarkOpenRejectParallel is BenchmarkOpenReject on every core.
func BenchmarkOpenRejectParallel(b *testing.B) {
	br := breaker.Must(breaker.Config{Telemetry: telemetry.Disabled(), BreakDuration: time.Hour})
	openBreaker(b, br)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := br.Execute(ctx, succeed); err == nil {
				b.Error("not rejected")
				return
			}
		}
	})
}

var errBench = errors.New("down")

func openBreaker(b *testing.B, br *breaker.Breaker) {
	for br.State() == breaker.Closed {
		_ = br.Execute(context.Background(), func(context.Context) error { return errBench })
	}
}

// BenchmarkWindowSize shows the cost of a call does not depend on the size of
// the count window.
func BenchmarkWindowSize(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			benchExecute(b, breaker.Must(breaker.Config{WindowSize: n, Telemetry: telemetry.Disabled()}))
		})
	}
}

// BenchmarkWindowSizeMixed records a failure every 10 calls, so that calls
// take the lock and update the window's counts.
func BenchmarkWindowSizeMixed(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			br := breaker.Must(breaker.Config{WindowSize: n, Telemetry: telemetry.Disabled()})
			ctx := context.Background()
			i := 0
			fn := func(context.Context) error {
				i++
				if i%10 == 0 {
					return errBench
				}
				return nil
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = br.Execute(ctx, fn)
			}
		})
	}
}

// BenchmarkTimeWindow is the closed success path of a time window: one clock
// read, no lock.
func BenchmarkTimeWindow(b *testing.B) {
	benchExecute(b, breaker.Must(breaker.Config{WindowDuration: time.Minute, Telemetry: telemetry.Disabled()}))
}

// BenchmarkTimeWindowParallel is BenchmarkTimeWindow on every core.
func BenchmarkTimeWindowParallel(b *testing.B) {
	benchExecuteParallel(b, breaker.Must(breaker.Config{WindowDuration: time.Minute, Telemetry: telemetry.Disabled()}))
}

// BenchmarkSlowCalls is the closed success path of a count window timing its
// calls: two clock reads and the lock.
func BenchmarkSlowCalls(b *testing.B) {
	benchExecute(b, breaker.Must(breaker.Config{SlowCallDuration: time.Second, Telemetry: telemetry.Disabled()}))
}
