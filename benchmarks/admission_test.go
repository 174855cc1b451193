package benchmarks

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fslimiter "github.com/failsafe-go/failsafe-go/adaptivelimiter"
	fsthrottler "github.com/failsafe-go/failsafe-go/adaptivethrottler"
	fsratelimiter "github.com/failsafe-go/failsafe-go/ratelimiter"
	"golang.org/x/time/rate"

	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/limiter"
	"github.com/palisade-go/palisade/policy/ratelimit"
	"github.com/palisade-go/palisade/policy/throttle"
	"github.com/palisade-go/palisade/telemetry"
)

// Rate limiters, each granting every call (a limit far above what a
// benchmark reaches): the cost of a decision with its clock read.
const (
	benchRate  = 1e9
	benchBurst = 1 << 20
)

func rateLimiters() []struct {
	name  string
	allow func() bool
} {
	p := ratelimit.Must(ratelimit.Config{Rate: benchRate, Burst: benchBurst, Telemetry: telemetry.Disabled()})
	x := rate.NewLimiter(rate.Limit(benchRate), benchBurst)
	f := fsratelimiter.NewBursty[any](benchBurst, time.Millisecond)
	return []struct {
		name  string
		allow func() bool
	}{
		{"xrate", x.Allow},
		{"failsafe", f.TryAcquirePermit},
		{"palisade", p.Allow},
	}
}

func BenchmarkRateLimitAllow(b *testing.B) {
	for _, l := range rateLimiters() {
		b.Run("impl="+l.name, func(b *testing.B) {
			run(b, func() { l.allow() })
		})
	}
}

func BenchmarkRateLimitAllowParallel(b *testing.B) {
	for _, l := range rateLimiters() {
		b.Run("impl="+l.name, func(b *testing.B) {
			runParallel(b, func() { l.allow() })
		})
	}
}

// The adaptive limiter against a bulkhead (its target: at most twice the
// bulkhead's cost) and failsafe-go's adaptivelimiter, a slot always free.
func BenchmarkLimiter(b *testing.B) {
	ctx := context.Background()
	bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 100, Telemetry: telemetry.Disabled()})
	l := limiter.Must(limiter.Config{InitialLimit: 100, Telemetry: telemetry.Disabled()})
	fs := failsafe.With[any](fslimiter.NewBuilder[any]().WithLimits(1, 200, 100).Build())
	b.Run("impl=bulkhead", func(b *testing.B) { run(b, func() { _ = bh.Execute(ctx, succeed) }) })
	b.Run("impl=failsafe", func(b *testing.B) { run(b, func() { _ = fs.Run(func() error { return nil }) }) })
	b.Run("impl=palisade", func(b *testing.B) { run(b, func() { _ = l.Execute(ctx, succeed) }) })
}

func BenchmarkLimiterParallel(b *testing.B) {
	ctx := context.Background()
	bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 100, Telemetry: telemetry.Disabled()})
	l := limiter.Must(limiter.Config{InitialLimit: 100, Telemetry: telemetry.Disabled()})
	b.Run("impl=bulkhead", func(b *testing.B) { runParallel(b, func() { _ = bh.Execute(ctx, succeed) }) })
	b.Run("impl=palisade", func(b *testing.B) { runParallel(b, func() { _ = l.Execute(ctx, succeed) }) })
}

// The throttle against failsafe-go's adaptivethrottler, every call a
// success.
func BenchmarkThrottle(b *testing.B) {
	ctx := context.Background()
	th := throttle.Must(throttle.Config{Telemetry: telemetry.Disabled()})
	fs := failsafe.With[any](fsthrottler.NewWithDefaults[any]())
	b.Run("impl=failsafe", func(b *testing.B) { run(b, func() { _ = fs.Run(func() error { return nil }) }) })
	b.Run("impl=palisade", func(b *testing.B) { run(b, func() { _ = th.Execute(ctx, succeed) }) })
}
