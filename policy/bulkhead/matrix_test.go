package bulkhead_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/bulkhead"
)

// TestPanicCancelTimeoutMatrix makes a call through a bulkhead of one slot
// and a queue of one panic, be cancelled or reach a deadline before it gets
// a slot (at once, or while it waits in the queue), while its function runs
// and after, and checks the error or panic that came back, whether fn ran,
// when, palisade.rejected_calls (only a full queue and MaxWait are
// rejections: a caller's own context ending is not), and that afterwards no
// slot is held, nobody waits, and the next call runs at once. A bulkhead
// runs no code of its user's after fn: a panic "after" is the panic of the
// call ahead, which hands its slot on.
func TestPanicCancelTimeoutMatrix(t *testing.T) {
	errBoom := errors.New("boom")
	type env struct {
		b *bulkhead.Bulkhead
		// occupy takes the slot with a call that returns (or panics with
		// v, if not nil) when release is called.
		occupy func(v any) (release func())
	}
	for _, r := range []struct {
		name     string
		maxWait  time.Duration
		call     func(e env, fn func(context.Context) error) error
		fn       func(ctx context.Context) error
		err      error // the very value, unless full
		full     bool  // an error matching ErrFull
		panic    any
		ran      bool
		elapsed  time.Duration
		rejected int64
	}{
		{
			name: "cancel/before, a slot free: fn decides",
			call: func(e env, fn func(context.Context) error) error {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return e.b.Execute(ctx, fn)
			},
			fn:  func(ctx context.Context) error { return ctx.Err() },
			err: context.Canceled, ran: true,
		},
		{
			name: "cancel/before, no slot free: not queued",
			call: func(e env, fn func(context.Context) error) error {
				defer e.occupy(nil)()
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return e.b.Execute(ctx, fn)
			},
			err: context.Canceled,
		},
		{
			name: "cancel/during the wait in the queue",
			call: func(e env, fn func(context.Context) error) error {
				defer e.occupy(nil)()
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return e.b.Execute(ctx, fn)
			},
			err: context.Canceled, elapsed: 100 * time.Millisecond,
		},
		{
			name: "cancel/during fn",
			call: func(e env, fn func(context.Context) error) error {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return e.b.Execute(ctx, fn)
			},
			fn:  func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			err: context.Canceled, ran: true, elapsed: 100 * time.Millisecond,
		},
		{
			name: "cancel/after fn",
			call: func(e env, fn func(context.Context) error) error {
				ctx, cancel := context.WithCancel(context.Background())
				return e.b.Execute(ctx, func(ctx context.Context) error {
					_ = fn(ctx)
					cancel()
					return errBoom
				})
			},
			err: errBoom, ran: true,
		},
		{
			name: "timeout/before, no slot free: not queued",
			call: func(e env, fn func(context.Context) error) error {
				defer e.occupy(nil)()
				ctx, cancel := context.WithDeadline(context.Background(), time.Now())
				defer cancel()
				return e.b.Execute(ctx, fn)
			},
			err: context.DeadlineExceeded,
		},
		{
			name: "timeout/during the wait: the caller's deadline",
			call: func(e env, fn func(context.Context) error) error {
				defer e.occupy(nil)()
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				return e.b.Execute(ctx, fn)
			},
			err: context.DeadlineExceeded, elapsed: 100 * time.Millisecond,
		},
		{
			name:    "timeout/during the wait: MaxWait",
			maxWait: 50 * time.Millisecond,
			call: func(e env, fn func(context.Context) error) error {
				defer e.occupy(nil)()
				return e.b.Execute(context.Background(), fn)
			},
			full: true, elapsed: 50 * time.Millisecond, rejected: 1,
		},
		{
			name: "timeout/during fn",
			call: func(e env, fn func(context.Context) error) error {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				return e.b.Execute(ctx, fn)
			},
			fn:  func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			err: context.DeadlineExceeded, ran: true, elapsed: 100 * time.Millisecond,
		},
		{
			name: "full/the queue is full",
			call: func(e env, fn func(context.Context) error) error {
				defer e.occupy(nil)()
				waiter := make(chan error, 1)
				ctx, cancel := context.WithCancel(context.Background())
				defer func() { cancel(); <-waiter }()
				go func() { waiter <- e.b.Execute(ctx, fn) }()
				synctest.Wait() // queued
				return e.b.Execute(context.Background(), fn)
			},
			full: true, rejected: 1,
		},
		{
			name: "panic/before: the call ahead panics while this one waits",
			call: func(e env, fn func(context.Context) error) error {
				release := e.occupy("ahead")
				time.AfterFunc(100*time.Millisecond, release)
				return e.b.Execute(context.Background(), fn)
			},
			err: nil, ran: true, elapsed: 100 * time.Millisecond,
		},
		{
			name: "panic/during fn: the slot goes to the waiter",
			call: func(e env, fn func(context.Context) error) error {
				started, waiter := make(chan struct{}), make(chan error, 1)
				go func() {
					<-started // the call below holds the slot
					waiter <- e.b.Execute(context.Background(), func(context.Context) error { return nil })
				}()
				defer func() {
					if err := <-waiter; err != nil {
						t.Errorf("the waiter behind the panicking call got %v", err)
					}
				}()
				return e.b.Execute(context.Background(), func(ctx context.Context) error {
					close(started)
					synctest.Wait() // the waiter is queued
					if e.b.Queued() != 1 {
						t.Errorf("Queued() = %d while fn runs", e.b.Queued())
					}
					return fn(ctx)
				})
			},
			fn:    func(context.Context) error { panic("fn") },
			panic: "fn", ran: true,
		},
	} {
		t.Run(r.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := oteltest.New()
				b := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1, MaxWait: r.maxWait, Telemetry: h.Telemetry})
				var occupiers []chan struct{}
				occupy := func(v any) func() {
					started, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
					occupiers = append(occupiers, done)
					go func() {
						defer close(done)
						defer func() {
							if p := recover(); p != v {
								t.Errorf("occupier panicked with %v, want %v", p, v)
							}
						}()
						_ = b.Execute(context.Background(), func(context.Context) error {
							close(started)
							<-release
							if v != nil {
								panic(v)
							}
							return nil
						})
					}()
					<-started
					return sync1(func() { close(release) })
				}

				ran := false
				start := time.Now()
				var err error
				var panicked any
				func() {
					defer func() { panicked = recover() }()
					err = r.call(env{b, occupy}, func(ctx context.Context) error {
						ran = true
						if r.fn == nil {
							return nil
						}
						return r.fn(ctx)
					})
				}()
				elapsed := time.Since(start)
				for _, done := range occupiers {
					<-done
				}

				switch {
				case r.panic != nil:
					if panicked != r.panic {
						t.Fatalf("panicked with %v (error %v), want %v", panicked, err, r.panic)
					}
				case panicked != nil:
					t.Fatalf("panicked with %v", panicked)
				case r.full:
					if !errors.Is(err, bulkhead.ErrFull) {
						t.Fatalf("returned %v, want ErrFull", err)
					}
				case !r.ran && (r.err == context.Canceled || r.err == context.DeadlineExceeded):
					// Never reached fn: the ctx's error, as a rejection.
					if !errors.Is(err, r.err) || !errors.Is(err, policy.ErrRejected) || errors.Is(err, bulkhead.ErrFull) {
						t.Fatalf("returned %v, want a wait-ended error matching %v and policy.ErrRejected", err, r.err)
					}
				case err != r.err:
					t.Fatalf("returned %v, want %v", err, r.err)
				}
				if ran != r.ran || elapsed != r.elapsed {
					t.Fatalf("fn ran: %v after %v; want %v after %v", ran, elapsed, r.ran, r.elapsed)
				}
				if n := h.Count(t, "palisade.rejected_calls"); n != r.rejected {
					t.Fatalf("palisade.rejected_calls = %d, want %d", n, r.rejected)
				}
				if b.InFlight() != 0 || b.Queued() != 0 {
					t.Fatalf("afterwards: InFlight %d, Queued %d", b.InFlight(), b.Queued())
				}
				if err := b.Execute(context.Background(), noop); err != nil {
					t.Fatalf("the next call: %v", err)
				}
			})
		})
	}
}

// sync1 returns a function calling f the first time only.
func sync1(f func()) func() {
	called := false
	return func() {
		if !called {
			called = true
			f()
		}
	}
}
