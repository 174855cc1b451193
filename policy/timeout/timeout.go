package timeout

import (
	"context"
	"errors"
	"time"

	"github.com/palisade-go/palisade/internal/contract"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
)

// Timeout is a policy that gives each call a deadline. It is safe for
// concurrent use.
type Timeout struct {
	name     string
	duration time.Duration
	report   *report.Timeout
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
	deadline := time.Now().Add(t.duration)
	if parent, ok := ctx.Deadline(); ok && !parent.After(deadline) {
		return fn(ctx)
	}
	callCtx, cancel := context.WithDeadlineCause(ctx, deadline, ErrTimeout)
	defer cancel()
	err := fn(callCtx)
	if err == nil || ctx.Err() != nil {
		// Success, or the caller's own context ended: not ours to change.
		return err
	}
	if !errors.Is(context.Cause(callCtx), ErrTimeout) {
		return err
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
// function at most once at a time, and never after Execute returns.
func (*Timeout) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }
