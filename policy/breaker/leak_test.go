package breaker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy/breaker"
)

// TestNoGoroutineLeft runs, on the real clock, goroutines whose calls fail,
// panic, are cancelled mid-call and are timed out mid-call through a
// breaker that opens, half-opens and closes under them, and checks that
// once they have returned nothing is left: no goroutine, and no trial
// permit held (the breaker, once its break is over, admits a trial call).
func TestNoGoroutineLeft(t *testing.T) {
	b := newBreaker(t, breaker.Config{
		ConsecutiveFailures: 3,
		BreakDuration:       2 * time.Millisecond,
		SuccessThreshold:    2,
		HalfOpenCalls:       1,
		OnStateChange:       func(from, to breaker.State) { _ = b2state(from, to) },
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				func() {
					defer func() {
						if p := recover(); p != nil && p != "fn" {
							t.Errorf("recovered %v", p)
						}
					}()
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+i%3)*time.Millisecond)
					defer cancel()
					_ = b.Execute(ctx, func(ctx context.Context) error {
						switch (g + i) % 5 {
						case 0:
							panic("fn")
						case 1:
							<-ctx.Done() // the deadline, mid-call
							return ctx.Err()
						case 2:
							cancel() // the caller gives up, mid-call
							return ctx.Err()
						case 3:
							return errors.New("down")
						}
						return nil
					})
				}()
			}
		})
	}
	wg.Wait()
	if b.State() == breaker.Open {
		time.Sleep(2 * time.Millisecond)
	}
	if s := b.State(); s == breaker.HalfOpen {
		p, err := b.Allow()
		if err != nil {
			t.Fatalf("a trial permit is still held: %v", err)
		}
		p.Done(nil)
	} else if s != breaker.Closed {
		t.Fatalf("after the calls and the break: %v", s)
	}
	goleak.VerifyNone(t)
}

// b2state stands for an OnStateChange doing some work.
func b2state(from, to breaker.State) string { return from.String() + "->" + to.String() }
