package timeout

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/palisade-go/palisade/internal/contract"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
)

// Timeout is a policy that gives each call a deadline. It is safe for
// concurrent use.
type Timeout struct {
	name      string
	duration  time.Duration
	abandon   bool
	report    *report.Timeout
	abandoned atomic.Int64 // abandoned attempts still running
}

// Name returns the policy's name.
func (t *Timeout) Name() string { return t.name }

// Duration returns the deadline each call gets.
func (t *Timeout) Duration() time.Duration { return t.duration }

// Execute runs fn with a context whose deadline is the policy's Duration
// away. When the caller's deadline is no later, fn runs with ctx itself:
// that deadline is the caller's to report, and a timer of the policy's
// firing at the same instant must not race it into an ErrTimeout.
func (t *Timeout) Execute(ctx context.Context, fn policy.Func) error {
	if fn == nil {
		panic(contract.NilFunc("timeout"))
	}
	if t.abandon {
		return t.executeAbandoning(ctx, fn)
	}
	deadline := time.Now().Add(t.duration)
	if parent, ok := ctx.Deadline(); ok && !parent.After(deadline) {
		return fn(ctx)
	}
	callCtx, cancel := context.WithDeadlineCause(ctx, deadline, ErrTimeout)
	defer cancel()
	return t.outcome(ctx, callCtx, deadline, fn(callCtx))
}

// outcome is the outcome of a call with ctx whose function, run with
// callCtx, returned err.
func (t *Timeout) outcome(ctx, callCtx context.Context, deadline time.Time, err error) error {
	if err == nil || ctx.Err() != nil {
		// Success, or the caller's own context ended: not ours to change.
		return err
	}
	if !errors.Is(context.Cause(callCtx), ErrTimeout) {
		// The deadline may have passed with its timer yet to fire: a
		// server timing the call out on the same deadline (grpc-go sends
		// it along) can answer first. Read the clock only then.
		if deadline.IsZero() || time.Now().Before(deadline) {
			return err
		}
	}
	if errors.Is(err, policy.ErrRejected) && !errors.Is(err, context.DeadlineExceeded) {
		// An inner policy refused the call on its own account (a
		// bulkhead's MaxWait, an open breaker) as the deadline passed:
		// a rejection, not this policy's timeout.
		return err
	}
	t.report.TimedOut(ctx)
	return &Error{Policy: t.name, Duration: t.duration, Err: err}
}

var _ policy.ModalPolicy = (*Timeout)(nil)

// AttemptMode returns policy.SequentialAttempts: the policy runs its
// function at most once at a time, and never after Execute returns; or,
// with Config.Abandon, policy.ConcurrentAttempts: an abandoned attempt
// outlives Execute.
func (t *Timeout) AttemptMode() policy.AttemptMode {
	if t.abandon {
		return policy.ConcurrentAttempts
	}
	return policy.SequentialAttempts
}

// Abandoned returns how many attempts the policy abandoned at their
// deadline are still running (always 0 without Config.Abandon).
func (t *Timeout) Abandoned() int { return int(t.abandoned.Load()) }

func (t *Timeout) abandonedNow() int64 { return t.abandoned.Load() }

// The states of an abandonable attempt.
const (
	running int32 = iota
	returned
	abandoned
)

// attempt is the function of an abandoning call, run on a goroutine of
// its own.
type attempt struct {
	state    atomic.Int32
	done     chan struct{} // closed when fn has returned, unless abandoned
	err      error
	panicked bool
	panicVal any
}

// executeAbandoning is Execute with Config.Abandon.
func (t *Timeout) executeAbandoning(ctx context.Context, fn policy.Func) error {
	if err := ctx.Err(); err != nil {
		// Nobody waits: a function started now would be abandoned at
		// once.
		return err
	}
	deadline := time.Now().Add(t.duration)
	var callCtx context.Context
	var cancel context.CancelFunc
	if parent, ok := ctx.Deadline(); ok && !parent.After(deadline) {
		// The caller's deadline comes first: it is the caller's to
		// report, and the attempt is abandoned then all the same.
		callCtx, cancel = context.WithCancel(ctx)
		deadline = time.Time{} // no deadline of this policy's in play
	} else {
		callCtx, cancel = context.WithDeadlineCause(ctx, deadline, ErrTimeout)
	}
	a := &attempt{done: make(chan struct{})}
	go t.run(a, callCtx, cancel, fn)
	select {
	case <-a.done:
	case <-callCtx.Done():
		if a.state.CompareAndSwap(running, abandoned) {
			t.abandoned.Add(1)
			if ctx.Err() != nil {
				return ctx.Err() // the caller's own cancellation or deadline
			}
			t.report.TimedOut(ctx)
			return &Error{Policy: t.name, Duration: t.duration, Err: context.DeadlineExceeded, Abandoned: true}
		}
		<-a.done // fn returned at the same instant: its outcome counts
	}
	cancel()
	if a.panicked {
		panic(a.panicVal)
	}
	return t.outcome(ctx, callCtx, deadline, a.err)
}

// run runs fn for an abandoning call.
func (t *Timeout) run(a *attempt, ctx context.Context, cancel context.CancelFunc, fn policy.Func) {
	panicking := true
	defer func() {
		var v any
		if panicking {
			v = recover()
		}
		if !a.state.CompareAndSwap(running, returned) {
			// Abandoned: nobody waits for the outcome.
			cancel()
			t.abandoned.Add(-1)
			if panicking {
				// The caller has returned: crash, as an unrecovered panic
				// on any goroutine does, rather than swallow it.
				panic(v)
			}
			return
		}
		a.panicked, a.panicVal = panicking, v
		close(a.done)
	}()
	a.err = fn(ctx)
	panicking = false
}
