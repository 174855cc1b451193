package limiter_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/limiter"
	"github.com/palisade-go/palisade/telemetry"
)

// blocked runs l.Execute in a goroutine with a function that returns when
// release is closed; done receives Execute's error.
func blocked(ctx context.Context, l *limiter.Limiter, release <-chan struct{}) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- l.Execute(ctx, func(context.Context) error { <-release; return nil })
	}()
	return done
}

func TestRefusedAtLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := limiter.Must(limiter.Config{Name: "db", InitialLimit: 2, Telemetry: telemetry.Disabled()})
		release := make(chan struct{})
		a, b := blocked(t.Context(), l, release), blocked(t.Context(), l, release)
		synctest.Wait()
		if l.InFlight() != 2 || l.Limit() != 2 {
			t.Fatalf("InFlight %d, Limit %d", l.InFlight(), l.Limit())
		}
		ran := false
		err := l.Execute(t.Context(), func(context.Context) error { ran = true; return nil })
		if ran || !errors.Is(err, limiter.ErrLimited) || !errors.Is(err, policy.ErrRejected) || telemetry.ErrorType(err) != "concurrency_limited" {
			t.Fatalf("ran %v, err %v (%s)", ran, err, telemetry.ErrorType(err))
		}
		if err.Error() != "palisade/limiter: db: concurrency limit reached" {
			t.Fatalf("message %q", err)
		}
		if _, ok := policy.RetryAfter(err); ok {
			t.Fatal("a concurrency limit knows no RetryAfter")
		}
		close(release)
		if <-a != nil || <-b != nil || l.InFlight() != 0 {
			t.Fatal("calls did not end cleanly")
		}
	})
}

func TestErrorUnchanged(t *testing.T) {
	l := limiter.Must(limiter.Config{Telemetry: telemetry.Disabled()})
	errFn := errors.New("fn")
	if err := l.Execute(context.Background(), func(context.Context) error { return errFn }); err != errFn {
		t.Fatalf("got %v", err)
	}
}

// TestQueue: FIFO waiters, MaxWait, a cancelled waiter.
func TestQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		l := limiter.Must(limiter.Config{InitialLimit: 1, MaxQueue: 2, MaxWait: time.Second, Telemetry: h.Telemetry})
		release := make(chan struct{})
		first := blocked(t.Context(), l, release)
		synctest.Wait()
		var mu sync.Mutex
		var order []int
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				_ = l.Execute(t.Context(), func(context.Context) error {
					mu.Lock()
					order = append(order, i)
					mu.Unlock()
					return nil
				})
			})
			synctest.Wait()
		}
		if l.Queued() != 2 {
			t.Fatalf("Queued %d", l.Queued())
		}
		if err := l.Execute(t.Context(), func(context.Context) error { return nil }); !errors.Is(err, limiter.ErrLimited) {
			t.Fatalf("queue full: %v", err)
		}
		close(release)
		<-first
		wg.Wait()
		if len(order) != 2 || order[0] != 0 || order[1] != 1 {
			t.Fatalf("order %v", order)
		}

		// MaxWait passes.
		release = make(chan struct{})
		first = blocked(t.Context(), l, release)
		synctest.Wait()
		start := time.Now()
		err := l.Execute(t.Context(), func(context.Context) error { return nil })
		if !errors.Is(err, limiter.ErrLimited) || time.Since(start) != time.Second {
			t.Fatalf("MaxWait: %v after %v", err, time.Since(start))
		}
		// A waiter whose context ends: not ErrLimited, not counted.
		before := h.Total(t, "palisade.rejected_calls")
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		err = l.Execute(ctx, func(context.Context) error { return nil })
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, policy.ErrRejected) || errors.Is(err, limiter.ErrLimited) {
			t.Fatalf("ctx ended while queued: %v", err)
		}
		if telemetry.ErrorType(err) != "concurrency_limit_wait_ended" || h.Total(t, "palisade.rejected_calls") != before {
			t.Fatalf("error.type %q, rejections %d → %d", telemetry.ErrorType(err), before, h.Total(t, "palisade.rejected_calls"))
		}
		close(release)
		<-first
		if l.InFlight() != 0 || l.Queued() != 0 {
			t.Fatalf("InFlight %d Queued %d", l.InFlight(), l.Queued())
		}
	})
}

// TestPanicReleases: a panic in fn frees the slot and goes on.
func TestPanicReleases(t *testing.T) {
	l := limiter.Must(limiter.Config{InitialLimit: 1, Telemetry: telemetry.Disabled()})
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v", p)
			}
		}()
		_ = l.Execute(context.Background(), func(context.Context) error { panic("boom") })
	}()
	if l.InFlight() != 0 {
		t.Fatal("slot held after a panic")
	}
	if err := l.Execute(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestSlowEverywhereDoesNotGrow: every call takes 800ms, at the limit, the
// same latency whatever the load (concurrency-limits#137: a gradient reads
// that as "no queue" and grows the limit to its maximum). With
// MaxHealthyLatency below it the limit shrinks instead; and calls that all
// end by an inner timeout (drops) shrink it without the guard.
func TestSlowEverywhereDoesNotGrow(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  limiter.Config
		err  error
	}{
		{"vegas/guard", limiter.Config{MaxHealthyLatency: 500 * time.Millisecond}, nil},
		{"gradient2/guard", limiter.Config{Algorithm: limiter.Gradient2, MaxHealthyLatency: 500 * time.Millisecond}, nil},
		{"aimd/guard", limiter.Config{Algorithm: limiter.AIMD, MaxHealthyLatency: 500 * time.Millisecond}, nil},
		{"vegas/timeouts", limiter.Config{}, context.DeadlineExceeded},
		{"gradient2/timeouts", limiter.Config{Algorithm: limiter.Gradient2}, context.DeadlineExceeded},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c.cfg.Telemetry = telemetry.Disabled()
				l := limiter.Must(c.cfg)
				var wg sync.WaitGroup
				deadline := time.Now().Add(20 * time.Second)
				for range 40 { // closed loop: 40 callers, more than the limit
					wg.Go(func() {
						for time.Now().Before(deadline) {
							err := l.Execute(t.Context(), func(context.Context) error {
								time.Sleep(800 * time.Millisecond)
								return c.err
							})
							if errors.Is(err, limiter.ErrLimited) {
								time.Sleep(10 * time.Millisecond)
							}
						}
					})
				}
				wg.Wait()
				if l.Limit() >= limiter.DefaultInitialLimit {
					t.Fatalf("limit %d after 20s of uniformly slow calls, want below the initial %d", l.Limit(), limiter.DefaultInitialLimit)
				}
			})
		})
	}
}

// TestTelemetry: gauges, refusals, and a limit-change event only for a
// large step.
func TestTelemetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		l := limiter.Must(limiter.Config{Name: "api", InitialLimit: 2, MaxQueue: 1, Telemetry: h.Telemetry})
		if h.Total(t, "palisade.rejected_calls") != 0 || h.Total(t, "palisade.limiter.limit") != 2 {
			t.Fatal("initial series")
		}
		release := make(chan struct{})
		a, b, c := blocked(t.Context(), l, release), blocked(t.Context(), l, release), blocked(t.Context(), l, release)
		synctest.Wait()
		span := h.InSpan(t, func(ctx context.Context) { _ = l.Execute(ctx, func(context.Context) error { return nil }) })
		if h.Total(t, "palisade.limiter.inflight") != 2 || h.Total(t, "palisade.limiter.queued") != 1 || h.Total(t, "palisade.rejected_calls") != 1 {
			t.Fatalf("inflight %d queued %d rejected %d", h.Total(t, "palisade.limiter.inflight"), h.Total(t, "palisade.limiter.queued"), h.Total(t, "palisade.rejected_calls"))
		}
		if ev := span.Events(); len(ev) != 1 || ev[0].Name != "palisade.rejected" {
			t.Fatalf("events %v", ev)
		}
		close(release)
		<-a
		<-b
		<-c
	})
}

// TestLimitChangeEvents: a limit shrinking window after window (AIMD, a
// drop in each) adds a limit_change event only at steps of 20% or more
// since the last one, never one per window.
func TestLimitChangeEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		l := limiter.Must(limiter.Config{Algorithm: limiter.AIMD, InitialLimit: 100, SampleWindow: 10 * time.Millisecond, MinSamples: 1, Telemetry: h.Telemetry})
		span := h.InSpan(t, func(ctx context.Context) {
			for range 400 {
				_ = l.Execute(ctx, func(context.Context) error {
					time.Sleep(time.Millisecond)
					return context.DeadlineExceeded // an inner timeout: a drop
				})
			}
		})
		if l.Limit() > 30 {
			t.Fatalf("limit %d after 400 drops", l.Limit())
		}
		var events int
		for _, ev := range span.Events() {
			if ev.Name != "palisade.limiter.limit_change" {
				continue
			}
			events++
			var prev, limit int64
			for _, kv := range ev.Attributes {
				switch kv.Key {
				case "palisade.limiter.previous_limit":
					prev = kv.Value.AsInt64()
				case "palisade.limiter.limit":
					limit = kv.Value.AsInt64()
				}
			}
			if prev == 0 || (prev-limit)*5 < prev {
				t.Errorf("event for a step from %d to %d, under 20%%", prev, limit)
			}
		}
		if events == 0 || events > 10 {
			t.Fatalf("%d limit_change events while the limit went from 100 to %d", events, l.Limit())
		}
		t.Logf("%d events, limit 100 → %d", events, l.Limit())
	})
}
