package retry_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

// panickingBackOff panics when first asked for a delay, then gives none.
type panickingBackOff struct{ once func(any) }

func (*panickingBackOff) Reset() {}
func (b *panickingBackOff) NextBackOff() time.Duration {
	b.once("BackOff")
	return 0
}

// TestPanicCancelTimeoutMatrix makes a call through a retry of 3 attempts
// 100ms apart panic, be cancelled or reach a deadline before an attempt (in
// the user's OnRetry and BackOff, or in the delay), during it and after it
// (in ShouldRetry, or a caller giving up as the attempt fails), and checks
// the error or panic that came back, when, the attempts made,
// palisade.retry.retries and palisade.rejected_calls. A panic is never
// retried, and a caller who gave up is never retried for.
func TestPanicCancelTimeoutMatrix(t *testing.T) {
	const delay = 100 * time.Millisecond
	errBoom := errors.New("boom")
	type step func(ctx context.Context, cancel func()) error
	fails := func(context.Context, func()) error { return errBoom }
	// once panics with v the first time it is called in a test.
	var panicked bool
	once := func(v any) {
		if !panicked {
			panicked = true
			panic(v)
		}
	}
	for _, r := range []struct {
		name string
		cfg  func(*retry.Config)
		ctx  func() (context.Context, func()) // nil: background, cancellable
		// steps are what each attempt does; after the last, attempts fail.
		steps     []step
		err       error // the very value, unless exhausted
		exhausted bool  // a *retry.Error (exhausted) wrapping errBoom
		panic     any
		attempts  int
		elapsed   time.Duration
		retries   int64
	}{
		{
			name:     "panic/before attempt 2: OnRetry",
			cfg:      func(c *retry.Config) { c.OnRetry = func(int, error, time.Duration) { once("OnRetry") } },
			panic:    "OnRetry",
			attempts: 1,
		},
		{
			name: "panic/before attempt 2: BackOff",
			cfg: func(c *retry.Config) {
				c.BackOff = func() backoff.BackOff { return &panickingBackOff{once: once} }
			},
			panic:    "BackOff",
			attempts: 1,
		},
		{
			name:     "panic/during attempt 1",
			steps:    []step{func(context.Context, func()) error { panic("fn") }},
			panic:    "fn",
			attempts: 1,
		},
		{
			name:     "panic/during attempt 2",
			steps:    []step{fails, func(context.Context, func()) error { panic("fn") }},
			panic:    "fn",
			attempts: 2, elapsed: delay, retries: 1,
		},
		{
			name:     "panic/after attempt 1: ShouldRetry",
			cfg:      func(c *retry.Config) { c.ShouldRetry = func(error) bool { once("ShouldRetry"); return true } },
			panic:    "ShouldRetry",
			attempts: 1,
		},
		{
			name: "cancel/before attempt 1",
			ctx: func() (context.Context, func()) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			steps:    []step{func(ctx context.Context, _ func()) error { return ctx.Err() }},
			err:      context.Canceled,
			attempts: 1,
		},
		{
			name: "cancel/during attempt 2",
			steps: []step{fails, func(ctx context.Context, cancel func()) error {
				time.AfterFunc(10*time.Millisecond, cancel)
				<-ctx.Done()
				return ctx.Err()
			}},
			err:      context.Canceled,
			attempts: 2, elapsed: delay + 10*time.Millisecond, retries: 1,
		},
		{
			name: "cancel/during the delay",
			steps: []step{func(_ context.Context, cancel func()) error {
				time.AfterFunc(delay/2, cancel)
				return errBoom
			}},
			err:      context.Canceled,
			attempts: 1, elapsed: delay / 2, retries: 1,
		},
		{
			name:     "cancel/after attempt 1: the caller gives up as it fails",
			steps:    []step{func(_ context.Context, cancel func()) error { cancel(); return errBoom }},
			err:      errBoom,
			attempts: 1,
		},
		{
			name: "timeout/before attempt 1",
			ctx: func() (context.Context, func()) {
				return context.WithDeadline(context.Background(), time.Now())
			},
			steps:    []step{func(ctx context.Context, _ func()) error { return ctx.Err() }},
			err:      context.DeadlineExceeded,
			attempts: 1,
		},
		{
			name: "timeout/during attempt 1",
			ctx: func() (context.Context, func()) {
				return context.WithTimeout(context.Background(), delay/2)
			},
			steps:    []step{func(ctx context.Context, _ func()) error { <-ctx.Done(); return ctx.Err() }},
			err:      context.DeadlineExceeded,
			attempts: 1, elapsed: delay / 2,
		},
		{
			// The second delay would end past the deadline: not started.
			name: "timeout/the deadline falls within the second delay",
			ctx: func() (context.Context, func()) {
				return context.WithTimeout(context.Background(), delay*3/2)
			},
			exhausted: true,
			attempts:  2, elapsed: delay, retries: 1,
		},
		{
			name:      "timeout/after attempt 2: MaxDuration leaves no time for a third",
			cfg:       func(c *retry.Config) { c.MaxDuration = delay * 3 / 2 },
			exhausted: true,
			attempts:  2, elapsed: delay, retries: 1,
		},
	} {
		t.Run(r.name, func(t *testing.T) {
			panicked = false
			synctest.Test(t, func(t *testing.T) {
				h := oteltest.New()
				tel := h.Telemetry
				cfg := retry.Config{
					MaxAttempts: 3,
					BackOff:     constant(delay),
					Budget:      budget.Must(budget.Config{MinExtra: 10}),
					Telemetry:   tel,
				}
				if r.cfg != nil {
					r.cfg(&cfg)
				}
				rt := retry.Must(cfg)
				ctx, cancel := context.WithCancel(context.Background())
				if r.ctx != nil {
					ctx, cancel = r.ctx()
				}
				defer cancel()

				attempts := 0
				start := time.Now()
				var err error
				var panicked any
				func() {
					defer func() { panicked = recover() }()
					err = rt.Execute(ctx, func(ctx context.Context) error {
						attempts++
						if attempts <= len(r.steps) {
							return r.steps[attempts-1](ctx, cancel)
						}
						return errBoom
					})
				}()
				elapsed := time.Since(start)

				switch {
				case r.panic != nil:
					if panicked != r.panic {
						t.Fatalf("panicked with %v (error %v), want %v", panicked, err, r.panic)
					}
				case panicked != nil:
					t.Fatalf("panicked with %v", panicked)
				case r.exhausted:
					var ee *retry.Error
					if !errors.As(err, &ee) || ee.BudgetExhausted || ee.Attempts != r.attempts || ee.Err != errBoom {
						t.Fatalf("returned %v, want exhaustion after %d attempts", err, r.attempts)
					}
				case err != r.err:
					t.Fatalf("returned %v, want %v", err, r.err)
				}
				if attempts != r.attempts || elapsed != r.elapsed {
					t.Fatalf("%d attempts in %v, want %d in %v", attempts, elapsed, r.attempts, r.elapsed)
				}
				if n := h.Count(t, "palisade.retry.retries"); n != r.retries {
					t.Fatalf("palisade.retry.retries = %d, want %d", n, r.retries)
				}
				if n := h.Count(t, "palisade.rejected_calls"); n != 0 {
					t.Fatalf("palisade.rejected_calls = %d, want 0", n)
				}

				// The retry is as good as new: the next call gets its three
				// attempts, and its budget was not spent on what the
				// panics and cancellations cut short.
				attempts = 0
				err = rt.Execute(context.Background(), func(context.Context) error {
					attempts++
					return errBoom
				})
				wantNext := 3
				if cfg.MaxDuration > 0 {
					wantNext = 2
				}
				if !errors.Is(err, retry.ErrExhausted) || attempts != wantNext {
					t.Fatalf("the next call: %v after %d attempts", err, attempts)
				}
			})
		})
	}
}

// TestPanicSpendsNoBudget: a panicking attempt is not retried, so it spends
// none of the budget it shares; the next failing call still gets the one
// retry the budget allows.
func TestPanicSpendsNoBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := budget.Must(budget.Config{MinExtra: 1})
		r := retry.Must(retry.Config{MaxAttempts: 5, BackOff: zero, Budget: b, Telemetry: telemetry.Disabled()})
		for range 3 {
			func() {
				defer func() {
					if p := recover(); p != "fn" {
						t.Fatalf("panic %v", p)
					}
				}()
				_ = r.Execute(context.Background(), func(context.Context) error { panic("fn") })
			}()
		}
		n, err := retries(t, r)
		if n != 1 || !errors.Is(err, retry.ErrBudgetExhausted) {
			t.Fatalf("after 3 panics: %d retries, %v; want 1, budget exhausted", n, err)
		}
	})
}
