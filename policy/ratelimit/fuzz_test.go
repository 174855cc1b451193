package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/ratelimit"
	"github.com/palisade-go/palisade/telemetry"
)

// FuzzConfig checks New on any Config: it never panics, refuses exactly the
// invalid ones with an error naming the field, and a valid one grants
// exactly Burst permits at once, refuses the next with a RetryAfter of one
// interval (1/Rate rounded up to a nanosecond), and grants it then.
func FuzzConfig(f *testing.F) {
	f.Add("", 10.0, 0, int64(0))
	f.Add("api", 0.5, 3, int64(time.Second))
	f.Add("x", -1.0, 1, int64(0))
	f.Add("x", math.NaN(), 1, int64(0))
	f.Add("x", math.Inf(1), 1, int64(0))
	f.Add("x", 1e12, 5, int64(-1))
	f.Add("x", 1e-12, 1, int64(0))
	f.Add("x", 1.0, -1, int64(0))
	f.Fuzz(func(t *testing.T, name string, rate float64, burst int, maxWait int64) {
		cfg := ratelimit.Config{Name: name, Rate: rate, Burst: burst, MaxWait: time.Duration(maxWait), Telemetry: telemetry.Disabled()}
		l, err := ratelimit.New(cfg)
		interval := math.Ceil(1e9 / rate)
		effBurst := max(burst, 1)
		var field string
		switch {
		case math.IsNaN(rate) || math.IsInf(rate, 0) || rate <= 0:
			field = "Config.Rate"
		case burst < 0:
			field = "Config.Burst"
		case maxWait < 0:
			field = "Config.MaxWait"
		case interval*float64(effBurst) > 1<<60:
			field = "Config.Burst / Config.Rate"
		}
		if field != "" {
			if err == nil || l != nil || !strings.Contains(err.Error(), field) {
				t.Fatalf("New(%+v) = %v, %v; want an error naming %s", cfg, l, err, field)
			}
			return
		}
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		wantName := name
		if wantName == "" {
			wantName = ratelimit.DefaultName
		}
		if l.Name() != wantName || l.Burst() != effBurst || l.Rate() != rate {
			t.Fatalf("Name %q Burst %d Rate %v", l.Name(), l.Burst(), l.Rate())
		}
		if effBurst > 10000 {
			return // the loop below would be long
		}
		synctest.Test(t, func(t *testing.T) {
			for i := range effBurst {
				if !l.Allow() {
					t.Fatalf("permit %d of a burst of %d refused", i+1, effBurst)
				}
			}
			// MaxWait 0 so that the next call is refused, not queued.
			l0 := ratelimit.Must(ratelimit.Config{Rate: rate, Burst: burst, Telemetry: telemetry.Disabled()})
			for range effBurst {
				l0.Allow()
			}
			err := l0.Execute(context.Background(), func(context.Context) error { return nil })
			after, ok := policy.RetryAfter(err)
			if !errors.Is(err, ratelimit.ErrLimited) || !ok || after != time.Duration(interval) {
				t.Fatalf("after the burst: %v (RetryAfter %v, %v), want one interval %v", err, after, ok, time.Duration(interval))
			}
			if after > 100*365*24*time.Hour {
				return // beyond synctest's clock
			}
			time.Sleep(after)
			if !l0.Allow() {
				t.Fatal("refused once RetryAfter passed")
			}
		})
	})
}
