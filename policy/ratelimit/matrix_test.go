package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/ratelimit"
)

// TestPanicCancelTimeoutMatrix makes a call through a limiter of 10/s with
// MaxWait 1s panic, be cancelled or reach its deadline before it gets a
// permit (at once, or while it waits) and while its function runs, and
// checks the error or panic that came back, whether fn ran, when,
// palisade.rejected_calls, and that the limiter's next slot is where it
// should be (a waiter that gave up, being the last, gave its slot back).
// A rate limiter holds nothing while fn runs, so a panic releases nothing:
// the test checks it goes on unchanged.
func TestPanicCancelTimeoutMatrix(t *testing.T) {
	errBoom := errors.New("boom")
	for _, r := range []struct {
		name     string
		busy     bool // a permit was taken just before: the call must wait 100ms
		ctx      func() (context.Context, context.CancelFunc)
		fn       func(ctx context.Context) error
		err      error // matched with errors.Is
		limited  bool
		panic    any
		ran      bool
		elapsed  time.Duration
		rejected int64
		nextFree time.Duration // when, after the call returned, Allow succeeds
	}{
		{name: "cancel/before, permit free: fn decides",
			ctx: cancelled, fn: func(ctx context.Context) error { return ctx.Err() },
			err: context.Canceled, ran: true, nextFree: 100 * time.Millisecond},
		{name: "cancel/before, must wait: not queued", busy: true,
			ctx: cancelled, err: context.Canceled, nextFree: 100 * time.Millisecond},
		{name: "cancel/while waiting: slot given back", busy: true,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(40*time.Millisecond, cancel)
				return ctx, cancel
			},
			err: context.Canceled, elapsed: 40 * time.Millisecond, nextFree: 60 * time.Millisecond},
		{name: "cancel/during fn",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(40*time.Millisecond, cancel)
				return ctx, cancel
			},
			fn:  func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			err: context.Canceled, ran: true, elapsed: 40 * time.Millisecond, nextFree: 60 * time.Millisecond},
		{name: "timeout/before the slot: refused at once", busy: true,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			},
			limited: true, rejected: 1, nextFree: 100 * time.Millisecond},
		{name: "timeout/after the slot: waits and runs", busy: true,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 150*time.Millisecond)
			},
			fn:  func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			err: context.DeadlineExceeded, ran: true, elapsed: 150 * time.Millisecond, nextFree: 50 * time.Millisecond},
		{name: "panic/in fn",
			fn:    func(context.Context) error { panic(errBoom) },
			panic: errBoom, ran: true, nextFree: 100 * time.Millisecond},
		{name: "error/in fn",
			fn:  func(context.Context) error { return errBoom },
			err: errBoom, ran: true, nextFree: 100 * time.Millisecond},
	} {
		t.Run(r.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := oteltest.New()
				l := ratelimit.Must(ratelimit.Config{Rate: 10, MaxWait: time.Second, Telemetry: h.Telemetry})
				if r.busy {
					l.Allow()
				}
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if r.ctx != nil {
					ctx, cancel = r.ctx()
				}
				defer cancel()
				ran := false
				fn := r.fn
				if fn == nil {
					fn = func(context.Context) error { return nil }
				}
				start := time.Now()
				var err error
				var p any
				func() {
					defer func() { p = recover() }()
					err = l.Execute(ctx, func(ctx context.Context) error { ran = true; return fn(ctx) })
				}()
				if p != r.panic {
					t.Fatalf("panic %v, want %v", p, r.panic)
				}
				if r.panic == nil {
					if r.limited != errors.Is(err, ratelimit.ErrLimited) || (r.err != nil && !errors.Is(err, r.err)) || (r.err == nil && !r.limited && err != nil) {
						t.Fatalf("err %v, want %v (limited %v)", err, r.err, r.limited)
					}
					if !r.ran && !errors.Is(err, policy.ErrRejected) {
						t.Fatalf("fn did not run but %v does not match ErrRejected", err)
					}
				}
				if ran != r.ran || time.Since(start) != r.elapsed {
					t.Fatalf("ran %v after %v; want %v after %v", ran, time.Since(start), r.ran, r.elapsed)
				}
				if n := h.Total(t, "palisade.rejected_calls"); n != r.rejected {
					t.Fatalf("rejected_calls %d, want %d", n, r.rejected)
				}
				if r.nextFree > 0 {
					time.Sleep(r.nextFree - 1)
					if l.Allow() {
						t.Fatalf("a permit before %v", r.nextFree)
					}
					time.Sleep(1)
				}
				if !l.Allow() {
					t.Fatalf("no permit after %v", r.nextFree)
				}
			})
		})
	}
}

func cancelled() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx, cancel
}
