package retry_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

// FuzzConfig checks New on any Config: it never panics, it refuses exactly
// the invalid ones with an error naming the field, and a valid one builds a
// Retry that, with the default backoff on synctest's clock, runs a function
// failing `failures` times until it succeeds or runs out of attempts or of
// MaxDuration — waiting exactly the delays it announces, each within the
// default backoff's jitter, and never starting an attempt past MaxDuration.
func FuzzConfig(f *testing.F) {
	f.Add("", 0, int64(0), uint8(0))
	f.Add("r", 1, int64(0), uint8(3))
	f.Add("r", 3, int64(0), uint8(5))
	f.Add("r", -1, int64(0), uint8(7))
	f.Add("r", -2, int64(0), uint8(1))
	f.Add("r", 5, int64(-1), uint8(1))
	f.Add("r", 10, int64(250*time.Millisecond), uint8(7))
	f.Add("r", -1, int64(time.Second), uint8(9))
	f.Add("r", math.MinInt, int64(math.MinInt64), uint8(2))
	f.Fuzz(func(t *testing.T, name string, maxAttempts int, maxDuration int64, failures uint8) {
		cfg := retry.Config{
			Name:        name,
			MaxAttempts: maxAttempts,
			MaxDuration: time.Duration(maxDuration),
			Telemetry:   telemetry.Disabled(),
		}
		var invalid []string
		if maxAttempts < -1 {
			invalid = append(invalid, "Config.MaxAttempts")
		}
		if maxDuration < 0 {
			invalid = append(invalid, "Config.MaxDuration")
		}
		r, err := retry.New(cfg)
		if checkConfigError(t, err, invalid) {
			return
		}
		wantAttempts, wantName := maxAttempts, name
		if wantAttempts == 0 {
			wantAttempts = retry.DefaultMaxAttempts
		}
		if wantName == "" {
			wantName = "retry"
		}
		if r.Name() != wantName || r.MaxAttempts() != wantAttempts {
			t.Fatalf("Name() = %q, MaxAttempts() = %d; want %q, %d", r.Name(), r.MaxAttempts(), wantName, wantAttempts)
		}

		k := int(failures % 12) // failed attempts before a success
		synctest.Test(t, func(t *testing.T) {
			var delays []time.Duration
			cfg.OnRetry = func(_ int, _ error, d time.Duration) { delays = append(delays, d) }
			r := retry.Must(cfg)
			var starts []time.Time
			errFn := errors.New("fn")
			begin := time.Now()
			err := r.Execute(context.Background(), func(ctx context.Context) error {
				starts = append(starts, time.Now())
				if got := retry.Attempt(ctx); got != len(starts) {
					t.Errorf("Attempt(ctx) = %d in attempt %d", got, len(starts))
				}
				if len(starts) <= k {
					return errFn
				}
				return nil
			})
			calls := len(starts)
			if wantAttempts != retry.Unlimited && calls > wantAttempts {
				t.Fatalf("%d attempts, MaxAttempts %d", calls, wantAttempts)
			}
			if len(delays) != calls-1 {
				t.Fatalf("OnRetry called %d times for %d attempts", len(delays), calls)
			}
			for i, d := range delays {
				lo, hi := jitterBounds(i + 1)
				if d < lo || d > hi {
					t.Fatalf("delay %d is %v, outside the default backoff's [%v, %v]", i+1, d, lo, hi)
				}
				if gap := starts[i+1].Sub(starts[i]); gap != d {
					t.Fatalf("waited %v before attempt %d, announced %v", gap, i+2, d)
				}
			}
			if last := starts[calls-1].Sub(begin); cfg.MaxDuration > 0 && last > cfg.MaxDuration {
				t.Fatalf("attempt %d started %v after the first, MaxDuration %v", calls, last, cfg.MaxDuration)
			}
			if err == nil {
				if calls != k+1 {
					t.Fatalf("success after %d attempts, want %d", calls, k+1)
				}
				return
			}
			var ee *retry.Error
			if !errors.As(err, &ee) || ee.BudgetExhausted || ee.Attempts != calls || ee.Err != errFn || errors.Is(err, policy.ErrRejected) {
				t.Fatalf("call of %d attempts ended with %#v", calls, err)
			}
			if calls > k {
				t.Fatalf("exhausted after %d attempts, the last of which succeeded", calls)
			}
			if calls < wantAttempts || wantAttempts == retry.Unlimited {
				// Cut off by MaxDuration: the next delay could not have
				// ended in time.
				_, hi := jitterBounds(calls)
				if cfg.MaxDuration == 0 || starts[calls-1].Sub(begin)+hi <= cfg.MaxDuration {
					t.Fatalf("exhausted after %d of %d attempts at %v, MaxDuration %v", calls, wantAttempts, starts[calls-1].Sub(begin), cfg.MaxDuration)
				}
			}
		})
	})
}

// jitterBounds returns the range of the default backoff's n-th delay (n ≥ 1).
func jitterBounds(n int) (lo, hi time.Duration) {
	interval := float64(retry.DefaultInitialInterval)
	for range n - 1 {
		interval = min(interval*retry.DefaultMultiplier, float64(retry.DefaultMaxInterval))
	}
	lo = time.Duration(interval * (1 - retry.DefaultRandomizationFactor))
	hi = time.Duration(interval*(1+retry.DefaultRandomizationFactor)) + 1 // rounding
	return lo, hi
}

// checkConfigError checks New's error against the fields the test found
// invalid: an error naming one of them when there are any, else none. It
// reports whether the config was invalid.
func checkConfigError(t *testing.T, err error, invalid []string) bool {
	t.Helper()
	if len(invalid) == 0 {
		if err != nil {
			t.Fatalf("valid config refused: %v", err)
		}
		return false
	}
	if err == nil {
		t.Fatalf("invalid %v accepted", invalid)
	}
	for _, field := range invalid {
		if strings.Contains(err.Error(), field) {
			return true
		}
	}
	t.Fatalf("error %q names none of the invalid fields %v", err, invalid)
	return true
}

// FuzzBudgetConfig checks budget.New on any budget.Config: it never panics, it
// refuses exactly the invalid ones with an error naming the field, and a
// valid one allows exactly the retries MinExtra + Ratio × calls allows,
// forgetting them once Window has passed.
func FuzzBudgetConfig(f *testing.F) {
	f.Add(0.0, 0, int64(0))
	f.Add(0.2, 1, int64(time.Second))
	f.Add(1.5, 0, int64(1))
	f.Add(-0.1, 0, int64(0))
	f.Add(math.NaN(), 0, int64(0))
	f.Add(math.Inf(1), 0, int64(0))
	f.Add(1e300, 3, int64(0))
	f.Add(0.0, -1, int64(0))
	f.Add(0.0, 0, int64(-1))
	f.Add(0.0, math.MaxInt, int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, ratio float64, minRetries int, window int64) {
		cfg := budget.Config{Ratio: ratio, MinExtra: minRetries, Window: time.Duration(window)}
		var invalid []string
		if !(ratio >= 0) || math.IsInf(ratio, 1) {
			invalid = append(invalid, "Config.Ratio")
		}
		if minRetries < 0 {
			invalid = append(invalid, "Config.MinExtra")
		}
		if window < 0 {
			invalid = append(invalid, "Config.Window")
		}
		b, err := budget.New(cfg)
		if checkConfigError(t, err, invalid) {
			return
		}
		wantWindow := cfg.Window
		if wantWindow == 0 {
			wantWindow = budget.DefaultWindow
		}
		if b.Window() != wantWindow {
			t.Fatalf("Window() = %v, want %v", b.Window(), wantWindow)
		}

		synctest.Test(t, func(t *testing.T) {
			const maxAttempts = 12
			b := budget.Must(cfg)
			r := retry.Must(retry.Config{
				MaxAttempts: maxAttempts,
				BackOff:     func() backoff.BackOff { return &backoff.ZeroBackOff{} },
				Budget:      b,
				Telemetry:   telemetry.Disabled(),
			})
			// The budget's window, as a model: calls and retries in it.
			var calls, retries int
			call := func() {
				t.Helper()
				calls++
				want := 0
				for want < maxAttempts-1 && float64(retries+want+1) <= float64(minRetries)+ratio*float64(calls) {
					want++
				}
				retries += want
				attempts := 0
				errFn := errors.New("fn")
				err := r.Execute(context.Background(), func(context.Context) error {
					attempts++
					return errFn
				})
				if attempts-1 != want {
					t.Fatalf("call %d made %d retries, the budget allows %d", calls, attempts-1, want)
				}
				if want < maxAttempts-1 {
					var be *retry.Error
					if !errors.As(err, &be) || !be.BudgetExhausted || be.Attempts != attempts || be.Err != errFn ||
						!errors.Is(err, retry.ErrBudgetExhausted) || !errors.Is(err, policy.ErrRejected) {
						t.Fatalf("call denied a retry ended with %#v", err)
					}
				} else if !errors.Is(err, retry.ErrExhausted) || errors.Is(err, policy.ErrRejected) {
					t.Fatalf("call that used every attempt ended with %#v", err)
				}
			}
			call()
			call()
			if wantWindow > maxWait {
				return
			}
			// Once a whole window has passed, the budget starts again. (A
			// window under 10ns is a ring of 1ns buckets: 10ns.)
			time.Sleep(max(wantWindow, 10))
			calls, retries = 0, 0
			call()
		})
	})
}

// maxWait is the longest the fuzz targets sleep: synctest's clock starts in
// 2000 and its monotonic readings end in 2262.
const maxWait = 100 * 365 * 24 * time.Hour
