package throttle_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/policy/throttle"
	"github.com/palisade-go/palisade/telemetry"
)

// TestPanicCancelTimeoutMatrix makes a call through a throttle panic, be
// cancelled by its caller or reach its deadline before and during its
// function, or fail, and checks what came back and how the call counted:
// the ratio after one such call following one success (2 requests, 1
// accept: 0; a request not accepted: (2 − 2)/3 = 0 too, so a second
// success-less call follows to tell them apart: 3 requests, 1 accept: 1/4).
// The caller's own cancellation or deadline counts neither way.
func TestPanicCancelTimeoutMatrix(t *testing.T) {
	errBoom := errors.New("boom")
	for _, r := range []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		fn      func(ctx context.Context) error
		err     error
		panic   any
		elapsed time.Duration
		counted bool // as a request not accepted
	}{
		{name: "cancel/before", ctx: cancelled, fn: func(ctx context.Context) error { return ctx.Err() }, err: context.Canceled},
		{name: "cancel/during", ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Second, cancel)
			return ctx, cancel
		}, fn: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, err: context.Canceled, elapsed: time.Second},
		{name: "timeout/during: the caller's deadline", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Second)
		}, fn: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, err: context.DeadlineExceeded, elapsed: time.Second},
		{name: "timeout/inner deadline: not accepted", fn: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			<-ctx.Done()
			return ctx.Err()
		}, err: context.DeadlineExceeded, elapsed: time.Second, counted: true},
		{name: "panic/in fn", fn: func(context.Context) error { panic(errBoom) }, panic: errBoom, counted: true},
		{name: "error/in fn", fn: func(context.Context) error { return errBoom }, err: errBoom, counted: true},
	} {
		t.Run(r.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				th := throttle.Must(throttle.Config{Telemetry: telemetry.Disabled()})
				_ = th.Execute(context.Background(), func(context.Context) error { return nil })
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if r.ctx != nil {
					ctx, cancel = r.ctx()
				}
				defer cancel()
				start := time.Now()
				var err error
				var p any
				func() {
					defer func() { p = recover() }()
					err = th.Execute(ctx, r.fn)
				}()
				if p != r.panic || (r.panic == nil && err != r.err) || time.Since(start) != r.elapsed {
					t.Fatalf("err %v panic %v after %v; want %v %v after %v", err, p, time.Since(start), r.err, r.panic, r.elapsed)
				}
				_ = th.Execute(context.Background(), func(context.Context) error { return errBoom })
				want := 0.0 // 2 requests, 1 accept
				if r.counted {
					want = 0.25 // 3 requests, 1 accept
				}
				if got := th.RejectRatio(); got != want {
					t.Fatalf("ratio %v, want %v", got, want)
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
