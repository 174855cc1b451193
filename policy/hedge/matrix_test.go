package hedge_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy/hedge"
)

// TestPanicCancelHedgeMatrix makes a call through a Hedge (delay 100ms,
// two hedges) be cancelled by its caller, reach its caller's deadline, or
// panic, before any hedge, while hedges run, and in a hedge, and checks what
// came back, when, the attempts started, that every attempt's context is
// done once the call has returned, and the hedge counters.
func TestPanicCancelHedgeMatrix(t *testing.T) {
	errBoom := errors.New("boom")
	waitCtx := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	for _, r := range []struct {
		name     string
		ctx      func() (context.Context, context.CancelFunc)
		fn       func(ctx context.Context) error
		err      error
		panic    any
		elapsed  time.Duration
		attempts int
		won      int64
		lost     int64
	}{
		{
			name: "cancel/before",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			fn: waitCtx, err: context.Canceled, attempts: 1,
		},
		{
			name: "cancel/during, before a hedge",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			fn: waitCtx, err: context.Canceled, elapsed: 50 * time.Millisecond, attempts: 1,
		},
		{
			name: "cancel/during hedges",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(250*time.Millisecond, cancel)
				return ctx, cancel
			},
			fn: waitCtx, err: context.Canceled, elapsed: 250 * time.Millisecond, attempts: 3, lost: 2,
		},
		{
			name: "deadline/the caller's, during hedges",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 150*time.Millisecond)
			},
			fn: waitCtx, err: context.DeadlineExceeded, elapsed: 150 * time.Millisecond, attempts: 2, lost: 1,
		},
		{
			name:  "panic/first attempt, before a hedge",
			fn:    func(context.Context) error { panic("fn") },
			panic: "fn", attempts: 1,
		},
		{
			name: "panic/in a hedge",
			fn: func(ctx context.Context) error {
				if hedge.Attempt(ctx) == 2 {
					panic("hedge")
				}
				return waitCtx(ctx)
			},
			panic: "hedge", elapsed: 100 * time.Millisecond, attempts: 2, lost: 1,
		},
		{
			name: "panic/first attempt, while a hedge runs",
			fn: func(ctx context.Context) error {
				if hedge.Attempt(ctx) == 1 {
					time.Sleep(150 * time.Millisecond)
					panic("first")
				}
				return waitCtx(ctx)
			},
			panic: "first", elapsed: 150 * time.Millisecond, attempts: 2, lost: 1,
		},
		{
			name: "error/every attempt",
			fn: func(ctx context.Context) error {
				time.Sleep(time.Duration(4-hedge.Attempt(ctx)) * 100 * time.Millisecond)
				return errBoom
			},
			err: errBoom, elapsed: 300 * time.Millisecond, attempts: 3, lost: 2,
		},
		{
			name: "success/the last hedge",
			fn: func(ctx context.Context) error {
				if hedge.Attempt(ctx) == 3 {
					return nil
				}
				return waitCtx(ctx)
			},
			elapsed: 200 * time.Millisecond, attempts: 3, won: 1, lost: 1,
		},
	} {
		t.Run(r.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := oteltest.New()
				hd := hedge.Must(hedge.Config{Delay: 100 * time.Millisecond, MaxHedges: 2, MaxExtraRatio: 10, Telemetry: h.Telemetry})
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if r.ctx != nil {
					ctx, cancel = r.ctx()
				}
				defer cancel()
				var ctxs []context.Context
				ctxsDone := make(chan context.Context, 8)
				start := time.Now()
				var err error
				var panicked any
				func() {
					defer func() { panicked = recover() }()
					err = hd.Execute(ctx, func(ctx context.Context) error {
						ctxsDone <- ctx
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
				case err != r.err:
					t.Fatalf("returned %v, want %v", err, r.err)
				}
				synctest.Wait() // every attempt started has sent its context
				close(ctxsDone)
				for c := range ctxsDone {
					ctxs = append(ctxs, c)
				}
				if len(ctxs) != r.attempts {
					t.Fatalf("%d attempts, want %d", len(ctxs), r.attempts)
				}
				for i, c := range ctxs {
					if c.Err() == nil {
						t.Fatalf("attempt %d's context is live after Execute returned", i+1)
					}
				}
				var won, lost int64
				for _, dp := range h.Sum(t, "palisade.hedge.hedges") {
					o, _ := dp.Attributes.Value("palisade.hedge.outcome")
					if o.AsString() == "won" {
						won += dp.Value
					} else {
						lost += dp.Value
					}
				}
				if won != r.won || lost != r.lost {
					t.Fatalf("hedges won %d, lost %d; want %d, %d", won, lost, r.won, r.lost)
				}
				time.Sleep(time.Second) // attempts that ignore their context end
			})
		})
	}
}
