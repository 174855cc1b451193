package breaker_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/policy/breaker"
)

// TestPanicCancelTimeoutMatrix makes a call panic, be cancelled or time out
// before, during and after its function, in closed and in half-open state,
// and checks what the breaker did with it: the error or panic that came
// back, the state, every counter of Metrics, and that a trial call's permit
// was given back (a half-open breaker with HalfOpenCalls 1 admits the next
// trial call). The breaker ignores the caller's cancellation (it counts
// neither way: no place in the window, no trial success), counts a deadline
// as a failure, and a call longer than SlowCallDuration as slow; the
// window's Calls tell an ignored outcome from a success.
func TestPanicCancelTimeoutMatrix(t *testing.T) {
	const (
		brk  = time.Second
		slow = 500 * time.Millisecond
	)
	type env struct {
		b                       *breaker.Breaker
		failPanics, changePanic *bool // make IsFailure, OnStateChange panic once
	}
	type row struct {
		name     string
		halfOpen bool // start half-open, else closed
		// call makes the call; it returns the error, what it panicked with,
		// and whether fn ran.
		call func(e env) (err error, panicked any, ran bool)
		// Expected.
		err                error // compared with ==, unless panic is set
		panic              any
		ran                bool
		state              breaker.State
		window             int // Metrics.Calls: outcomes in the window
		failures, slowCals int // in the window (closed rows only)
		consecutive        int
	}

	// call runs fn through e.b.Execute with ctx, recovering a panic.
	call := func(e env, ctx context.Context, fn func(ctx context.Context) error) (err error, panicked any, ran bool) {
		defer func() { panicked = recover() }()
		err = e.b.Execute(ctx, func(ctx context.Context) error {
			ran = true
			return fn(ctx)
		})
		return err, nil, ran
	}
	cancelled := func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	expired := func() context.Context {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now())
		cancel() // the deadline has passed: ctx.Err() is DeadlineExceeded
		return ctx
	}
	errBoom := errors.New("boom")

	rows := []row{}
	for _, halfOpen := range []bool{false, true} {
		// After a failure: closed stays closed (ConsecutiveFailures 2), a
		// trial call reopens.
		afterFailure, afterSuccess := breaker.Closed, breaker.Closed
		failures, consecutive := 1, 1
		if halfOpen {
			afterFailure, afterSuccess = breaker.Open, breaker.HalfOpen // SuccessThreshold 2
			failures, consecutive = 2, 2                                // the window that opened it
		}
		successFailures, successConsecutive := 0, 0
		// The window holds the closed row's outcome, unless ignored; a
		// half-open breaker's, the two failures that opened it (trial
		// calls never enter it).
		counted, ignored := 1, 0
		if halfOpen {
			successFailures, successConsecutive = 2, 2
			counted, ignored = 2, 2
		}
		rows = append(rows,
			row{
				name: "panic/during", halfOpen: halfOpen,
				call: func(e env) (error, any, bool) {
					return call(e, context.Background(), func(context.Context) error { panic("fn") })
				},
				panic: "fn", ran: true, state: afterFailure, window: counted, failures: failures, consecutive: consecutive,
			},
			row{
				name: "panic/after (IsFailure)", halfOpen: halfOpen,
				call: func(e env) (error, any, bool) {
					*e.failPanics = true
					return call(e, context.Background(), func(context.Context) error { return errBoom })
				},
				panic: "IsFailure", ran: true, state: afterFailure, window: counted, failures: failures, consecutive: consecutive,
			},
			row{
				name: "cancel/before", halfOpen: halfOpen,
				call: func(e env) (error, any, bool) {
					return call(e, cancelled(), func(ctx context.Context) error { return ctx.Err() })
				},
				err: context.Canceled, ran: true, state: afterSuccess, window: ignored, failures: successFailures, consecutive: successConsecutive,
			},
			row{
				name: "cancel/during", halfOpen: halfOpen,
				call: func(e env) (error, any, bool) {
					ctx, cancel := context.WithCancel(context.Background())
					time.AfterFunc(100*time.Millisecond, cancel)
					return call(e, ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
				},
				err: context.Canceled, ran: true, state: afterSuccess, window: ignored, failures: successFailures, consecutive: successConsecutive,
			},
			row{
				name: "cancel/after", halfOpen: halfOpen,
				call: func(e env) (error, any, bool) {
					ctx, cancel := context.WithCancel(context.Background())
					return call(e, ctx, func(context.Context) error { cancel(); return errBoom })
				},
				err: errBoom, ran: true, state: afterFailure, window: counted, failures: failures, consecutive: consecutive,
			},
			row{
				name: "timeout/before", halfOpen: halfOpen,
				call: func(e env) (error, any, bool) {
					return call(e, expired(), func(ctx context.Context) error { return ctx.Err() })
				},
				err: context.DeadlineExceeded, ran: true, state: afterFailure, window: counted, failures: failures, consecutive: consecutive,
			},
			row{
				name: "timeout/during", halfOpen: halfOpen,
				call: func(e env) (error, any, bool) {
					ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
					defer cancel()
					return call(e, ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
				},
				err: context.DeadlineExceeded, ran: true, state: afterFailure, window: counted, failures: failures, consecutive: consecutive,
			},
		)
		slowRow := row{
			name: "timeout/after (slow call)", halfOpen: halfOpen,
			call: func(e env) (error, any, bool) {
				return call(e, context.Background(), func(context.Context) error { time.Sleep(slow + 1); return nil })
			},
			ran: true, state: breaker.Closed, window: counted, slowCals: 1,
		}
		if halfOpen { // a slow trial call fails
			slowRow.state, slowRow.slowCals, slowRow.failures, slowRow.consecutive = breaker.Open, 0, 2, 2
		}
		rows = append(rows, slowRow)
	}
	rows = append(rows,
		row{
			name: "panic/after (OnStateChange, closed->open)",
			call: func(e env) (error, any, bool) {
				_ = e.b.Execute(context.Background(), fail)
				*e.changePanic = true
				return call(e, context.Background(), fail)
			},
			panic: "OnStateChange", ran: true, state: breaker.Open, window: 2, failures: 2, consecutive: 2,
		},
		row{
			// The call that finds the break over makes the breaker
			// half-open; OnStateChange panics before fn runs: the trial
			// permit the call was given must be given back.
			name: "panic/before (OnStateChange, open->half_open)", halfOpen: true,
			call: func(e env) (error, any, bool) {
				*e.changePanic = true
				return call(e, context.Background(), ok)
			},
			panic: "OnStateChange", ran: false, state: breaker.HalfOpen, window: 2, failures: 2, consecutive: 2,
		},
	)

	for _, r := range rows {
		state := "closed"
		if r.halfOpen {
			state = "half_open"
		}
		t.Run(state+"/"+r.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				failPanics, changePanics := false, false
				b := newBreaker(t, breaker.Config{
					ConsecutiveFailures: 2,
					BreakDuration:       brk,
					SuccessThreshold:    2,
					HalfOpenCalls:       1,
					SlowCallDuration:    slow,
					IsFailure: func(err error) bool {
						if failPanics {
							failPanics = false
							panic("IsFailure")
						}
						return !errors.Is(err, context.Canceled)
					},
					OnStateChange: func(from, to breaker.State) {
						if changePanics && (to == breaker.Open || to == breaker.HalfOpen) {
							changePanics = false
							panic("OnStateChange")
						}
					},
				})
				var calls int64
				if r.halfOpen {
					run(t, b, 2, fail)
					calls = 2
					time.Sleep(brk)
					if r.name != "panic/before (OnStateChange, open->half_open)" && b.State() != breaker.HalfOpen {
						t.Fatalf("set-up: %v", b.State())
					}
				}

				err, panicked, ran := r.call(env{b, &failPanics, &changePanics})
				if r.panic != nil {
					if panicked != r.panic {
						t.Fatalf("panicked with %v (error %v), want %v", panicked, err, r.panic)
					}
				} else if panicked != nil || err != r.err {
					t.Fatalf("returned %v (panic %v), want %v", err, panicked, r.err)
				}
				if ran != r.ran {
					t.Fatalf("fn ran: %v, want %v", ran, r.ran)
				}
				if r.ran {
					calls++
				}
				if r.name == "panic/after (OnStateChange, closed->open)" {
					calls++
				}

				m := b.Metrics()
				if m.State != r.state || m.TotalCalls != calls || m.Rejected != 0 || m.Calls != r.window ||
					m.Failures != r.failures || m.SlowCalls != r.slowCals || m.ConsecutiveFailures != r.consecutive {
					t.Fatalf("Metrics %+v; want state %v, %d calls in all, %d in the window, %d failures, %d slow, %d in a row, 0 rejected",
						m, r.state, calls, r.window, r.failures, r.slowCals, r.consecutive)
				}

				// No permit is held: the (next) trial call is admitted.
				if m.State == breaker.Open {
					time.Sleep(brk)
				}
				if m.State != breaker.Closed {
					p, err := b.Allow()
					if err != nil {
						t.Fatalf("the next trial call is rejected: %v (a permit is still held)", err)
					}
					p.Done(nil)
				}
			})
		})
	}
}
