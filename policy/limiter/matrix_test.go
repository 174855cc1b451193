package limiter_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/limiter"
)

// TestPanicCancelTimeoutMatrix makes a call through a limiter of one slot
// and a queue of one (MaxWait 1s) panic, be cancelled or reach a deadline
// before it gets a slot (at once, or while it waits in the queue), while
// its function runs, and after; and checks the error or panic that came
// back, whether fn ran, when, palisade.rejected_calls (only a full queue
// and MaxWait are rejections), and that afterwards no slot is held, nobody
// waits, and the next call runs at once.
func TestPanicCancelTimeoutMatrix(t *testing.T) {
	errBoom := errors.New("boom")
	for _, r := range []struct {
		name     string
		busy     bool // the slot is held (released after 500ms) when the call arrives
		queued   bool // and the queue too (released after 500ms)
		ctx      func() (context.Context, context.CancelFunc)
		fn       func(ctx context.Context) error
		err      error // matched with errors.Is
		limited  bool
		panic    any
		ran      bool
		elapsed  time.Duration
		rejected int64
	}{
		{name: "cancel/before, a slot free: fn decides", ctx: cancelled,
			fn: func(ctx context.Context) error { return ctx.Err() }, err: context.Canceled, ran: true},
		{name: "cancel/before, no slot free: not queued", busy: true, ctx: cancelled, err: context.Canceled},
		{name: "cancel/while queued", busy: true, ctx: cancelAfter(200 * time.Millisecond),
			err: context.Canceled, elapsed: 200 * time.Millisecond},
		{name: "timeout/while queued", busy: true, ctx: timeoutAfter(300 * time.Millisecond),
			err: context.DeadlineExceeded, elapsed: 300 * time.Millisecond},
		{name: "queued, then runs", busy: true, fn: func(context.Context) error { return errBoom },
			err: errBoom, ran: true, elapsed: 500 * time.Millisecond},
		{name: "queue full: refused at once", busy: true, queued: true, limited: true, rejected: 1},
		{name: "cancel/during fn", ctx: cancelAfter(200 * time.Millisecond),
			fn: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, err: context.Canceled, ran: true, elapsed: 200 * time.Millisecond},
		{name: "timeout/during fn", ctx: timeoutAfter(200 * time.Millisecond),
			fn: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, err: context.DeadlineExceeded, ran: true, elapsed: 200 * time.Millisecond},
		{name: "panic/in fn", fn: func(context.Context) error { panic(errBoom) }, panic: errBoom, ran: true},
		{name: "panic/in fn, after waiting in the queue", busy: true, fn: func(context.Context) error { panic(errBoom) },
			panic: errBoom, ran: true, elapsed: 500 * time.Millisecond},
	} {
		t.Run(r.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := oteltest.New()
				l := limiter.Must(limiter.Config{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, MaxQueue: 1, MaxWait: time.Second, Telemetry: h.Telemetry})
				hold := func() {
					go func() {
						_ = l.Execute(context.Background(), func(context.Context) error { time.Sleep(500 * time.Millisecond); return nil })
					}()
					synctest.Wait()
				}
				if r.busy {
					hold()
				}
				if r.queued {
					hold()
				}
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if r.ctx != nil {
					ctx, cancel = r.ctx()
				}
				defer cancel()
				fn := r.fn
				if fn == nil {
					fn = func(context.Context) error { return nil }
				}
				ran := false
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
					if r.limited != errors.Is(err, limiter.ErrLimited) || (r.err != nil && !errors.Is(err, r.err)) {
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
				time.Sleep(time.Second) // the holders finish
				synctest.Wait()
				if l.InFlight() != 0 || l.Queued() != 0 {
					t.Fatalf("InFlight %d, Queued %d afterwards", l.InFlight(), l.Queued())
				}
				start = time.Now()
				if err := l.Execute(context.Background(), func(context.Context) error { return nil }); err != nil || time.Since(start) != 0 {
					t.Fatalf("next call: %v after %v", err, time.Since(start))
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

func cancelAfter(d time.Duration) func() (context.Context, context.CancelFunc) {
	return func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(d, cancel)
		return ctx, cancel
	}
}

func timeoutAfter(d time.Duration) func() (context.Context, context.CancelFunc) {
	return func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), d)
	}
}
