package timeout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// leakWorker starts, as a function's helper goroutine would (a request in
// flight, a query), a goroutine that lives until ctx ends, and returns a
// channel closed when it has.
func leakWorker(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
	}()
	return done
}

// TestNoGoroutineLeft runs, on the real clock, calls whose timeout fires,
// whose caller cancels them, and whose function panics, each function
// leaving a helper goroutine bound to its context, and checks that no
// goroutine is left once Execute has returned: the policy ends the
// function's context however the call ends (with a deadline of an hour,
// only the policy's cancel can).
func TestNoGoroutineLeft(t *testing.T) {
	t.Run("timeout fires", func(t *testing.T) {
		to := timeout.Must(timeout.Config{Duration: 5 * time.Millisecond, Telemetry: telemetry.Disabled()})
		err := to.Execute(context.Background(), func(ctx context.Context) error {
			<-leakWorker(ctx)
			return ctx.Err()
		})
		if !errors.Is(err, timeout.ErrTimeout) {
			t.Fatalf("got %v", err)
		}
		goleak.VerifyNone(t)
	})
	t.Run("caller cancels", func(t *testing.T) {
		to := timeout.Must(timeout.Config{Duration: time.Hour, Telemetry: telemetry.Disabled()})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(5*time.Millisecond, cancel)
		err := to.Execute(ctx, func(ctx context.Context) error {
			<-leakWorker(ctx)
			return ctx.Err()
		})
		if err != context.Canceled {
			t.Fatalf("got %v", err)
		}
		goleak.VerifyNone(t)
	})
	t.Run("function returns early", func(t *testing.T) {
		to := timeout.Must(timeout.Config{Duration: time.Hour, Telemetry: telemetry.Disabled()})
		var worker <-chan struct{}
		if err := to.Execute(context.Background(), func(ctx context.Context) error {
			worker = leakWorker(ctx)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		<-worker
		goleak.VerifyNone(t)
	})
	t.Run("function panics", func(t *testing.T) {
		to := timeout.Must(timeout.Config{Duration: time.Hour, Telemetry: telemetry.Disabled()})
		var worker <-chan struct{}
		func() {
			defer func() {
				if p := recover(); p != "fn" {
					t.Fatalf("recovered %v", p)
				}
			}()
			_ = to.Execute(context.Background(), func(ctx context.Context) error {
				worker = leakWorker(ctx)
				panic("fn")
			})
		}()
		select {
		case <-worker:
		case <-time.After(10 * time.Second):
			t.Fatal("the panicking function's context was never ended")
		}
		goleak.VerifyNone(t)
	})
}
