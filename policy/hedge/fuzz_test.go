package hedge_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/policy/hedge"
	"github.com/palisade-go/palisade/telemetry"
)

// FuzzConfig checks New on any Config: it never panics, it refuses exactly
// the invalid ones with an error naming the field, and a valid one with a
// fixed delay hedges a call that outlives the delay exactly then, at most
// MaxHedges times, returning the hedge's success.
func FuzzConfig(f *testing.F) {
	f.Add("", int64(0), 0.0, 0, 0.0)
	f.Add("api", int64(time.Millisecond), 0.0, 3, 1.0)
	f.Add("q", int64(0), 0.5, 1, 0.1)
	f.Add("bad", int64(-1), 1.0, -1, math.NaN())
	f.Add("inf", int64(1), 0.0, 1, math.Inf(1))
	f.Fuzz(func(t *testing.T, name string, delay int64, quantile float64, maxHedges int, ratio float64) {
		cfg := hedge.Config{Name: name, Delay: time.Duration(delay), Quantile: quantile, MaxHedges: maxHedges,
			MaxExtraRatio: ratio, Telemetry: telemetry.Disabled()}
		h, err := hedge.New(cfg)
		var field string
		switch {
		case delay < 0:
			field = "Config.Delay"
		case delay > 0 && quantile != 0:
			field = "Config.Quantile"
		case quantile != 0 && !(quantile > 0 && quantile < 1):
			field = "Config.Quantile"
		case maxHedges < 0:
			field = "Config.MaxHedges"
		case !(ratio >= 0) || math.IsInf(ratio, 0):
			field = "Config.MaxExtraRatio"
		}
		if field != "" {
			if err == nil || h != nil || !strings.Contains(err.Error(), field) {
				t.Fatalf("New(%+v) = %v, %v; want an error naming %s", cfg, h, err, field)
			}
			return
		}
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		if want := cmp(name, hedge.DefaultName); h.Name() != want {
			t.Fatalf("Name() = %q, want %q", h.Name(), want)
		}
		if delay == 0 || delay > int64(time.Hour) || maxHedges > 64 {
			return
		}
		synctest.Test(t, func(t *testing.T) {
			// The budget allows floor(ratio × 1 call) hedges to a first call.
			r := ratio
			if r == 0 {
				r = hedge.DefaultMaxExtraRatio
			}
			hedges := int(min(float64(max(maxHedges, 1)), math.Floor(r)))
			start := time.Now()
			var mu sync.Mutex
			var starts []time.Duration
			err := h.Execute(context.Background(), func(ctx context.Context) error {
				mu.Lock()
				starts = append(starts, time.Since(start))
				mu.Unlock()
				if hedge.Attempt(ctx) <= hedges {
					<-ctx.Done()
					return ctx.Err()
				}
				time.Sleep(time.Duration(delay) / 2)
				return nil
			})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(starts) != hedges+1 {
				t.Fatalf("%d attempts, want %d", len(starts), hedges+1)
			}
			for i, s := range starts {
				if s != time.Duration(i)*time.Duration(delay) {
					t.Fatalf("attempt %d started at %v, want %v", i+1, s, time.Duration(i)*time.Duration(delay))
				}
			}
			synctest.Wait()
		})
	})
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
