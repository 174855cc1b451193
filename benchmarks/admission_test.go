package benchmarks

import (
	"testing"
	"time"

	fsratelimiter "github.com/failsafe-go/failsafe-go/ratelimiter"
	"golang.org/x/time/rate"

	"github.com/palisade-go/palisade/policy/ratelimit"
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
