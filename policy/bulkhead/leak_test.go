package bulkhead_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/telemetry"
)

// TestNoGoroutineLeft runs, on the real clock, a bulkhead whose waiters
// give up — their context cancelled or past its deadline, their MaxWait
// passed — while an hour-long call holds the only slot, and one whose
// function panics with a waiter queued, and checks that every waiter leaves
// the queue at once, no slot is held, and no goroutine is left.
func TestNoGoroutineLeft(t *testing.T) {
	wait := func(t *testing.T, b *bulkhead.Bulkhead, n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); b.Queued() != n; {
			if time.Now().After(deadline) {
				t.Fatalf("Queued() = %d, want %d", b.Queued(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for _, tc := range []struct {
		name    string
		maxWait time.Duration
		ctx     func() (context.Context, context.CancelFunc)
		want    func(error) bool
	}{
		{"cancelled mid-wait", time.Hour, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(5*time.Millisecond, cancel)
			return ctx, cancel
		}, func(err error) bool { return errors.Is(err, context.Canceled) && errors.Is(err, policy.ErrRejected) }},
		{"deadline mid-wait", time.Hour, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 5*time.Millisecond)
		}, func(err error) bool {
			return errors.Is(err, context.DeadlineExceeded) && errors.Is(err, policy.ErrRejected)
		}},
		{"MaxWait passes", 5 * time.Millisecond, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, func(err error) bool { return errors.Is(err, bulkhead.ErrFull) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, MaxQueue: 4, MaxWait: tc.maxWait, Telemetry: telemetry.Disabled()})
			holder := start(context.Background(), b)
			<-holder.started
			errs := make(chan error, 4)
			for range 4 {
				go func() {
					ctx, cancel := tc.ctx()
					defer cancel()
					errs <- b.Execute(ctx, noop)
				}()
			}
			for range 4 {
				if err := <-errs; !tc.want(err) {
					t.Errorf("waiter got %v", err)
				}
			}
			if b.Queued() != 0 || b.InFlight() != 1 {
				t.Fatalf("waiters gone: Queued %d, InFlight %d", b.Queued(), b.InFlight())
			}
			holder.finish()
			if err := holder.result(); err != nil {
				t.Fatal(err)
			}
			if b.InFlight() != 0 {
				t.Fatalf("InFlight %d", b.InFlight())
			}
			goleak.VerifyNone(t)
		})
	}
	t.Run("function panics with a waiter queued", func(t *testing.T) {
		b := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1, Telemetry: telemetry.Disabled()})
		release := make(chan struct{})
		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			_ = b.Execute(context.Background(), func(context.Context) error {
				<-release
				panic("fn")
			})
		}()
		for b.InFlight() != 1 {
			time.Sleep(time.Millisecond)
		}
		waiter := make(chan error, 1)
		go func() { waiter <- b.Execute(context.Background(), noop) }()
		wait(t, b, 1)
		close(release)
		if p := <-panicked; p != "fn" {
			t.Fatalf("recovered %v", p)
		}
		if err := <-waiter; err != nil {
			t.Fatalf("waiter: %v", err)
		}
		if b.InFlight() != 0 || b.Queued() != 0 {
			t.Fatalf("InFlight %d, Queued %d", b.InFlight(), b.Queued())
		}
		goleak.VerifyNone(t)
	})
}
