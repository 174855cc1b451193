package chaos_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy/chaos"
)

// TestPanicCancelChaosMatrix makes an enabled call through a Chaos with
// latency (1s) be cancelled by its caller or reach its deadline before and
// during the injected wait, or its function panic after it, and checks what
// came back, when, whether fn ran, and the injections counted.
func TestPanicCancelChaosMatrix(t *testing.T) {
	for _, r := range []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		fn      func(context.Context) error
		err     error
		panic   any
		elapsed time.Duration
		ran     bool
	}{
		{
			name: "cancel/before",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			err: context.Canceled,
		},
		{
			name: "cancel/during the wait",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(300*time.Millisecond, cancel)
				return ctx, cancel
			},
			err: context.Canceled, elapsed: 300 * time.Millisecond,
		},
		{
			name: "deadline/during the wait",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 500*time.Millisecond)
			},
			err: context.DeadlineExceeded, elapsed: 500 * time.Millisecond,
		},
		{name: "panic/in fn after the wait", fn: func(context.Context) error { panic("fn") }, panic: "fn", elapsed: time.Second, ran: true},
		{name: "success/after the wait", elapsed: time.Second, ran: true},
	} {
		t.Run(r.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := oteltest.New()
				c := chaos.Must(chaos.Config{Probability: 1, Latency: time.Second, Telemetry: h.Telemetry})
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if r.ctx != nil {
					ctx, cancel = r.ctx()
				}
				defer cancel()
				ran := false
				start := time.Now()
				var err error
				var panicked any
				func() {
					defer func() { panicked = recover() }()
					err = c.Execute(chaos.Enable(ctx), func(ctx context.Context) error {
						ran = true
						if r.fn != nil {
							return r.fn(ctx)
						}
						return nil
					})
				}()
				if elapsed := time.Since(start); elapsed != r.elapsed {
					t.Fatalf("returned after %v, want %v", elapsed, r.elapsed)
				}
				if panicked != r.panic || r.panic == nil && err != r.err || ran != r.ran {
					t.Fatalf("returned %v, panicked %v, ran %v; want %v, %v, %v", err, panicked, ran, r.err, r.panic, r.ran)
				}
				if n := h.Total(t, "palisade.chaos.injections"); n != 1 {
					t.Fatalf("palisade.chaos.injections = %d, want 1", n)
				}
			})
		})
	}
}
