package timeout_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/timeout"
)

// TestPanicCancelTimeoutMatrix makes a call through a Timeout of 1s panic,
// be cancelled by its caller or reach a deadline — its caller's or the
// policy's — before, during and after its function, and checks the error
// or panic that came back, when, the palisade.timeout.timeouts counter and
// that the function's context was released (it is done once Execute has
// returned, so the policy's timer is stopped). A Timeout runs no code of
// its user's before or after fn, so there is no panic before or after fn to
// test but fn's own, after the deadline.
func TestPanicCancelTimeoutMatrix(t *testing.T) {
	errBoom := errors.New("boom")
	for _, r := range []struct {
		name string
		// call runs fn through to with a context of its own making.
		call     func(to *timeout.Timeout, fn policy.Func) error
		fn       func(ctx context.Context) error
		err      error // the very value, unless timedOut
		timedOut bool  // a *timeout.Error wrapping errBoom or DeadlineExceeded
		panic    any
		elapsed  time.Duration
		recorded int64
	}{
		{
			name: "cancel/before",
			call: func(to *timeout.Timeout, fn policy.Func) error {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return to.Execute(ctx, fn)
			},
			fn:  func(ctx context.Context) error { return ctx.Err() },
			err: context.Canceled,
		},
		{
			name: "cancel/during",
			call: func(to *timeout.Timeout, fn policy.Func) error {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(300*time.Millisecond, cancel)
				return to.Execute(ctx, fn)
			},
			fn:      waitThenErr,
			err:     context.Canceled,
			elapsed: 300 * time.Millisecond,
		},
		{
			name: "cancel/after the deadline, before fn returns",
			call: func(to *timeout.Timeout, fn policy.Func) error {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				return to.Execute(ctx, func(c context.Context) error {
					time.Sleep(2 * time.Second) // ignores its context
					cancel()
					return errBoom
				})
			},
			err:     errBoom,
			elapsed: 2 * time.Second,
		},
		{
			name: "timeout/before: the caller's deadline has passed",
			call: func(to *timeout.Timeout, fn policy.Func) error {
				ctx, cancel := context.WithDeadline(context.Background(), time.Now())
				defer cancel()
				return to.Execute(ctx, fn)
			},
			fn:  func(ctx context.Context) error { return ctx.Err() },
			err: context.DeadlineExceeded,
		},
		{
			name:     "timeout/during: the policy's deadline",
			call:     func(to *timeout.Timeout, fn policy.Func) error { return to.Execute(context.Background(), fn) },
			fn:       waitThenErr,
			timedOut: true,
			elapsed:  time.Second,
			recorded: 1,
		},
		{
			name: "timeout/during: the caller's deadline, earlier",
			call: func(to *timeout.Timeout, fn policy.Func) error {
				ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
				defer cancel()
				return to.Execute(ctx, fn)
			},
			fn:      waitThenErr,
			err:     context.DeadlineExceeded,
			elapsed: 400 * time.Millisecond,
		},
		{
			// Both deadlines fire at the same instant: the caller's is
			// reported, always (timers due together fire in any order).
			name: "timeout/during: the caller's deadline, at the same instant",
			call: func(to *timeout.Timeout, fn policy.Func) error {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				return to.Execute(ctx, fn)
			},
			fn:      waitThenErr,
			err:     context.DeadlineExceeded,
			elapsed: time.Second,
		},
		{
			name: "timeout/after: fn ignores its context and fails",
			call: func(to *timeout.Timeout, fn policy.Func) error { return to.Execute(context.Background(), fn) },
			fn: func(context.Context) error {
				time.Sleep(2 * time.Second)
				return errBoom
			},
			timedOut: true,
			elapsed:  2 * time.Second,
			recorded: 1,
		},
		{
			name: "timeout/after: fn ignores its context and succeeds",
			call: func(to *timeout.Timeout, fn policy.Func) error { return to.Execute(context.Background(), fn) },
			fn: func(context.Context) error {
				time.Sleep(2 * time.Second)
				return nil
			},
			elapsed: 2 * time.Second,
		},
		{
			name:  "panic/during",
			call:  func(to *timeout.Timeout, fn policy.Func) error { return to.Execute(context.Background(), fn) },
			fn:    func(context.Context) error { panic("fn") },
			panic: "fn",
		},
		{
			name: "panic/after the deadline",
			call: func(to *timeout.Timeout, fn policy.Func) error { return to.Execute(context.Background(), fn) },
			fn: func(ctx context.Context) error {
				<-ctx.Done()
				panic("fn")
			},
			panic:   "fn",
			elapsed: time.Second,
		},
	} {
		t.Run(r.name, func(t *testing.T) {
			// Timers due at one instant fire in any order: repeat, so that
			// a race between them shows.
			for range 50 {
				synctest.Test(t, func(t *testing.T) {
					h := oteltest.New()
					tel := h.Telemetry
					to := timeout.Must(timeout.Config{Duration: time.Second, Telemetry: tel})

					var fnCtx context.Context
					start := time.Now()
					var err error
					var panicked any
					func() {
						defer func() { panicked = recover() }()
						err = r.call(to, func(ctx context.Context) error {
							fnCtx = ctx
							if r.fn == nil {
								return nil
							}
							return r.fn(ctx)
						})
					}()
					if elapsed := time.Since(start); elapsed != r.elapsed {
						t.Fatalf("returned after %v, want %v", elapsed, r.elapsed)
					}
					switch {
					case r.panic != nil:
						if panicked != r.panic {
							t.Fatalf("panicked with %v (error %v), want %v", panicked, err, r.panic)
						}
					case panicked != nil:
						t.Fatalf("panicked with %v", panicked)
					case r.timedOut:
						var te *timeout.Error
						if !errors.As(err, &te) || !errors.Is(err, timeout.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
							t.Fatalf("returned %v, want a timeout", err)
						}
					case err != r.err:
						t.Fatalf("returned %v, want %v", err, r.err)
					}
					if fnCtx != nil && fnCtx.Err() == nil {
						t.Fatal("fn's context is still live after Execute returned: the policy's timer was not released")
					}
					if n := h.Count(t, "palisade.timeout.timeouts"); n != r.recorded {
						t.Fatalf("palisade.timeout.timeouts = %d, want %d", n, r.recorded)
					}
				})
			}
		})
	}
}

// waitThenErr waits for its context to end and returns its error.
func waitThenErr(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}
