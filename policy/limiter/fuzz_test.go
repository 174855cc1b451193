package limiter_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/palisade-go/palisade/policy/limiter"
	"github.com/palisade-go/palisade/telemetry"
)

// FuzzConfig checks New on any Config: it never panics, refuses exactly the
// invalid ones with an error naming the field, and a valid one starts at
// its initial limit (default 20, kept within the bounds) and admits that
// many calls at once, no more.
func FuzzConfig(f *testing.F) {
	f.Add("", 0, 0, 0, 0, 0, int64(0), 0.0, 0.0, 0.0)
	f.Add("x", 1, 5, 1, 10, 2, int64(time.Second), 0.5, 2.0, 0.5)
	f.Add("x", 3, 0, 0, 0, 0, int64(0), 0.0, 0.0, 0.0)
	f.Add("x", 0, 30, 40, 10, 0, int64(0), 0.0, 0.0, 0.0)
	f.Add("x", 0, 0, 50, 0, 0, int64(0), 0.0, 0.0, 0.0)
	f.Add("x", 0, 0, 0, 5, -1, int64(-1), 1.5, 0.5, 1.0)
	f.Add("x", 0, 0, 0, 0, 0, int64(0), math.NaN(), math.Inf(1), -0.1)
	f.Fuzz(func(t *testing.T, name string, alg, initial, minL, maxL, maxQueue int, maxWait int64, smoothing, tolerance, backoff float64) {
		cfg := limiter.Config{
			Name: name, Algorithm: limiter.Algorithm(alg), InitialLimit: initial, MinLimit: minL, MaxLimit: maxL,
			MaxQueue: maxQueue, MaxWait: time.Duration(maxWait),
			Smoothing: smoothing, Tolerance: tolerance, Backoff: backoff, Telemetry: telemetry.Disabled(),
		}
		l, err := limiter.New(cfg)
		const maxAny = 1 << 30
		effMin, effMax := max(minL, 1), maxL
		if maxL == 0 {
			effMax = max(1000, effMin)
		}
		var field string
		switch {
		case alg < 0 || alg > 2:
			field = "Config.Algorithm"
		case minL < 0 || minL > maxAny:
			field = "Config.MinLimit"
		case maxL < 0 || maxL > maxAny:
			field = "Config.MaxLimit"
		case initial < 0 || initial > maxAny:
			field = "Config.InitialLimit"
		case maxQueue < 0:
			field = "Config.MaxQueue"
		case maxWait < 0:
			field = "Config.MaxWait"
		case math.IsNaN(smoothing) || smoothing < 0 || smoothing > 1:
			field = "Config.Smoothing"
		case math.IsNaN(tolerance) || math.IsInf(tolerance, 0) || tolerance != 0 && tolerance < 1:
			field = "Config.Tolerance"
		case math.IsNaN(backoff) || backoff < 0 || backoff >= 1:
			field = "Config.Backoff"
		case effMin > effMax:
			field = "Config.MinLimit"
		case initial != 0 && (initial < effMin || initial > effMax):
			field = "Config.InitialLimit"
		}
		if field != "" {
			if err == nil || l != nil || !strings.Contains(err.Error(), field) {
				t.Fatalf("New(%+v) = %v; want an error naming %s", cfg, err, field)
			}
			return
		}
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		want := initial
		if want == 0 {
			want = min(max(20, effMin), effMax)
		}
		if l.Limit() != want {
			t.Fatalf("Limit() = %d, want %d", l.Limit(), want)
		}
		if want > 200 {
			return
		}
		// want calls hold slots; the next is refused (or queued, when a
		// queue exists: skip).
		release := make(chan struct{})
		started := make(chan struct{}, want)
		done := make(chan error, want)
		for range want {
			go func() {
				done <- l.Execute(context.Background(), func(context.Context) error { started <- struct{}{}; <-release; return nil })
			}()
		}
		for range want {
			<-started
		}
		if maxQueue == 0 {
			if err := l.Execute(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, limiter.ErrLimited) {
				t.Fatalf("call beyond the limit: %v", err)
			}
		}
		close(release)
		for range want {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if l.InFlight() != 0 {
			t.Fatalf("InFlight %d", l.InFlight())
		}
	})
}
