package fallback_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy/fallback"
)

// TestPanicCancelFallbackMatrix makes a call through a Fallback be
// cancelled by its caller, reach its caller's deadline, or panic — in fn or
// in the fallback — before and during fn, and checks what came back, when,
// and palisade.fallback.uses.
func TestPanicCancelFallbackMatrix(t *testing.T) {
	errAlt := errors.New("alt")
	wait := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	for _, r := range []struct {
		name     string
		ctx      func() (context.Context, context.CancelFunc)
		fn       func(context.Context) error
		fallback func(context.Context, error) error
		err      error
		panic    any
		elapsed  time.Duration
		uses     int64
	}{
		{
			name: "cancel/before",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			fn: wait, err: context.Canceled,
		},
		{
			name: "cancel/during",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(time.Second, cancel)
				return ctx, cancel
			},
			fn: wait, err: context.Canceled, elapsed: time.Second,
		},
		{
			name: "deadline/during: replaced",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), time.Second)
			},
			fn: wait, err: errAlt, elapsed: time.Second, uses: 1,
		},
		{name: "panic/in fn", fn: func(context.Context) error { panic("fn") }, panic: "fn"},
		{
			name:     "panic/in the fallback",
			fn:       func(context.Context) error { return errors.New("x") },
			fallback: func(context.Context, error) error { panic("fallback") },
			panic:    "fallback", uses: 1,
		},
	} {
		t.Run(r.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := oteltest.New()
				fb := r.fallback
				if fb == nil {
					fb = func(context.Context, error) error { return errAlt }
				}
				f := fallback.Must(fallback.Config{Fallback: fb, Telemetry: h.Telemetry})
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if r.ctx != nil {
					ctx, cancel = r.ctx()
				}
				defer cancel()
				start := time.Now()
				var err error
				var panicked any
				func() {
					defer func() { panicked = recover() }()
					err = f.Execute(ctx, r.fn)
				}()
				if elapsed := time.Since(start); elapsed != r.elapsed {
					t.Fatalf("returned after %v, want %v", elapsed, r.elapsed)
				}
				if panicked != r.panic || r.panic == nil && err != r.err {
					t.Fatalf("returned %v, panicked %v; want %v, %v", err, panicked, r.err, r.panic)
				}
				if n := h.Count(t, "palisade.fallback.uses"); n != r.uses {
					t.Fatalf("palisade.fallback.uses = %d, want %d", n, r.uses)
				}
			})
		})
	}
}
