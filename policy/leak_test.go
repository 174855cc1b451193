package policy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// TestPipelineLeavesNoGoroutine runs, on the real clock, calls through
// retry → breaker → timeout → bulkhead whose timeout fires, whose caller
// gives up in the retry's delay or in the bulkhead's queue, and whose
// function panics — each function leaving a helper goroutine bound to its
// context — and checks after each that no goroutine is left and the
// bulkhead holds no slot and no waiter.
func TestPipelineLeavesNoGoroutine(t *testing.T) {
	tel := telemetry.Disabled()
	build := func() (*policy.Pipeline, *bulkhead.Bulkhead) {
		bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1, Telemetry: tel})
		return policy.NewPipeline("leak",
			retry.Must(retry.Config{MaxAttempts: 3, BackOff: func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }, Telemetry: tel}),
			breaker.Must(breaker.Config{Telemetry: tel}),
			timeout.Must(timeout.Config{Duration: 5 * time.Millisecond, Telemetry: tel}),
			bh,
		).WithTelemetry(tel), bh
	}
	// helper starts a goroutine living until ctx ends, as a request in
	// flight would, and waits for it.
	helper := func(ctx context.Context) error {
		done := make(chan struct{})
		go func() { defer close(done); <-ctx.Done() }()
		<-done
		return ctx.Err()
	}
	check := func(t *testing.T, bh *bulkhead.Bulkhead) {
		t.Helper()
		if bh.InFlight() != 0 || bh.Queued() != 0 {
			t.Fatalf("bulkhead: InFlight %d, Queued %d", bh.InFlight(), bh.Queued())
		}
		goleak.VerifyNone(t)
	}

	t.Run("timeout fires, then the caller gives up in the retry's delay", func(t *testing.T) {
		p, bh := build()
		ctx, cancel := context.WithCancel(context.Background())
		attempts := 0
		err := p.Execute(ctx, func(ctx context.Context) error {
			attempts++
			time.AfterFunc(time.Millisecond, cancel) // before the delay of an hour ends
			return helper(ctx)
		})
		if err != context.Canceled || attempts != 1 {
			t.Fatalf("got %v after %d attempts", err, attempts)
		}
		check(t, bh)
	})
	t.Run("caller gives up in the bulkhead's queue", func(t *testing.T) {
		p, bh := build()
		started, release := make(chan struct{}), make(chan struct{})
		holder := make(chan error, 1)
		go func() {
			holder <- p.Execute(context.Background(), func(context.Context) error {
				close(started)
				<-release // ignores its context: holds the slot past the timeout
				return nil
			})
		}()
		<-started
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Millisecond, cancel)
		err := p.Execute(ctx, func(context.Context) error { return nil })
		// Queued, the call gave up when its caller did, or when the
		// timeout ended its wait (and the caller gave up in the delay).
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("queued call: %v", err)
		}
		close(release)
		if err := <-holder; err != nil {
			t.Fatalf("holder: %v", err)
		}
		check(t, bh)
	})
	t.Run("function panics", func(t *testing.T) {
		p, bh := build()
		func() {
			defer func() {
				if r := recover(); r != "fn" {
					t.Fatalf("recovered %v", r)
				}
			}()
			_ = p.Execute(context.Background(), func(ctx context.Context) error {
				go func() { <-ctx.Done() }() // ended by the timeout's cancel
				panic("fn")
			})
		}()
		check(t, bh)
	})
}
