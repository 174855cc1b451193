package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

// TestNoGoroutineLeft runs, on the real clock, calls whose caller gives up
// in the middle of an hour's delay or of an attempt, and calls whose
// function panics, and checks that each ends at once and leaves no
// goroutine (nor a live timer's goroutine, should the wait be written with
// one) behind.
func TestNoGoroutineLeft(t *testing.T) {
	r := retry.Must(retry.Config{MaxAttempts: retry.Unlimited, BackOff: constant(time.Hour), Telemetry: telemetry.Disabled()})
	t.Run("cancelled mid-delay", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(5*time.Millisecond, cancel)
		start := time.Now()
		err := r.Execute(ctx, func(context.Context) error { return errBoom })
		// context.Canceled from the wait, or, should this goroutine be
		// descheduled past the cancellation before the first attempt
		// ends, that attempt's error, returned as it is to a caller who
		// gave up.
		if (err != context.Canceled && err != errBoom) || time.Since(start) > time.Minute {
			t.Fatalf("got %v after %v", err, time.Since(start))
		}
		goleak.VerifyNone(t)
	})
	t.Run("deadline before the delay ends", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		err := r.Execute(ctx, func(context.Context) error { return errBoom })
		if !errors.Is(err, retry.ErrExhausted) {
			t.Fatalf("got %v", err)
		}
		goleak.VerifyNone(t)
	})
	t.Run("cancelled mid-attempt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(5*time.Millisecond, cancel)
		attempts := 0
		err := r.Execute(ctx, func(ctx context.Context) error {
			attempts++
			done := make(chan struct{})
			go func() { defer close(done); <-ctx.Done() }()
			<-done
			return ctx.Err()
		})
		if err != context.Canceled || attempts != 1 {
			t.Fatalf("got %v after %d attempts", err, attempts)
		}
		goleak.VerifyNone(t)
	})
	t.Run("function panics", func(t *testing.T) {
		r := retry.Must(retry.Config{MaxAttempts: 3, BackOff: zero, Telemetry: telemetry.Disabled()})
		attempts := 0
		func() {
			defer func() {
				if p := recover(); p != "fn" {
					t.Fatalf("recovered %v", p)
				}
			}()
			_ = r.Execute(context.Background(), func(context.Context) error {
				if attempts++; attempts == 2 {
					panic("fn")
				}
				return errors.New("first")
			})
		}()
		if attempts != 2 {
			t.Fatalf("%d attempts: a panic was retried", attempts)
		}
		goleak.VerifyNone(t)
	})
}
