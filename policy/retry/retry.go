package retry

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/palisade-go/palisade/internal/contract"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/budget"
)

// Retry is a policy that runs a failed call again. It is safe for
// concurrent use; its state is per call, but for its [budget.Budget].
type Retry struct {
	name        string
	maxAttempts int // -1: unlimited
	backOff     func() backoff.BackOff
	maxDuration time.Duration
	maxHint     time.Duration
	shouldRetry func(error) bool
	onRetry     func(int, error, time.Duration)
	budget      *budget.Budget
	report      *report.Retry
}

// Name returns the policy's name.
func (r *Retry) Name() string { return r.name }

// MaxAttempts returns how many attempts a call may make in all, the first
// included, or [Unlimited].
func (r *Retry) MaxAttempts() int { return r.maxAttempts }

// Execute runs fn, and runs it again after a delay each time it fails with an
// error that may be retried, until it succeeds or the call runs out of
// attempts, time or budget; see the package documentation for the rules.
// Each attempt gets a context derived from ctx, in which [Attempt] gives its
// number. A panic in fn is not retried: it goes on up the stack.
func (r *Retry) Execute(ctx context.Context, fn policy.Func) error {
	if fn == nil {
		panic(contract.NilFunc("retry"))
	}
	if r.budget != nil {
		r.budget.Call()
	}
	var start time.Time
	if r.maxDuration > 0 {
		start = time.Now()
	}
	attemptCtx := ctx
	if _, nested := ctx.Value(attemptKey{}).(*attemptContext); nested {
		// ctx is an attempt of an outer retry: shadow its number.
		attemptCtx = &attemptContext{Context: ctx, attempt: 1}
	}
	err := fn(attemptCtx)
	if err == nil {
		return nil
	}
	return r.retry(ctx, fn, err, start)
}

// retry handles a call whose first attempt failed with err; start is when
// that attempt started (zero without MaxDuration).
func (r *Retry) retry(ctx context.Context, fn policy.Func, err error, start time.Time) error {
	attempt := 1 // attempts made
	defer func() { r.report.Attempts(ctx, attempt) }()

	var (
		b     backoff.BackOff // made at the first retry
		timer *time.Timer     // made at the first retry that waits
	)
	for {
		if p, ok := errors.AsType[*backoff.PermanentError](err); ok {
			return p.Err
		}
		if ctx.Err() != nil {
			return err // the caller gave up: not ours to retry or change
		}
		if r.shouldRetry != nil && !r.shouldRetry(err) {
			return err
		}
		if attempt == r.maxAttempts {
			return r.exhausted(attempt, err)
		}

		if b == nil {
			if b = r.backOff(); isNil(b) {
				panic(fmt.Sprintf("palisade/retry: Config.BackOff returned nil (%T)", b))
			}
			b.Reset()
		}
		delay := b.NextBackOff()
		if delay == backoff.Stop {
			return r.exhausted(attempt, err)
		}
		if delay < 0 {
			delay = 0
		}
		if hint, ok := policy.RetryAfter(err); ok {
			if hint > r.maxHint {
				// Not worth waiting for (an open breaker's whole break, a
				// server's "come back in an hour"): the caller hears it now.
				return err
			}
			delay = max(delay, hint)
		}
		if !r.canWait(ctx, start, delay) {
			return r.exhausted(attempt, err)
		}
		if r.budget != nil && !r.budget.TryExtra() {
			r.report.BudgetRejected(ctx)
			return &Error{Policy: r.name, Attempts: attempt, Err: err, BudgetExhausted: true}
		}

		if r.onRetry != nil {
			r.onRetry(attempt+1, err, delay)
		}
		r.report.Retrying(ctx, attempt+1, delay, err)
		if delay > 0 {
			if timer == nil {
				timer = time.NewTimer(delay)
			} else {
				timer.Reset(delay)
			}
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-timer.C:
			}
		}

		if ctxErr := ctx.Err(); ctxErr != nil {
			// Ended after the check above (in OnRetry, say) with no wait to
			// notice it: the caller gave up, so no attempt runs.
			return ctxErr
		}
		attempt++
		if err = fn(&attemptContext{Context: ctx, attempt: attempt}); err == nil {
			return nil
		}
	}
}

// isNil reports whether b is nil, or a nil pointer in an interface (a
// BackOff func returning a nil *backoff.ExponentialBackOff), whose first
// method call would panic deep inside the backoff package.
func isNil(b backoff.BackOff) bool {
	if b == nil {
		return true
	}
	v := reflect.ValueOf(b)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// exhausted returns the error of a call that ran out of attempts.
func (r *Retry) exhausted(attempts int, err error) error {
	return &Error{Policy: r.name, Attempts: attempts, Err: err}
}

// canWait reports whether a wait of delay, starting now, ends in time for
// the next attempt: no later than MaxDuration after the first attempt
// started (start), and before ctx's deadline. It compares remaining times
// rather than adding delay to anything, so that no delay, however long,
// overflows.
func (r *Retry) canWait(ctx context.Context, start time.Time, delay time.Duration) bool {
	if r.maxDuration > 0 && delay > r.maxDuration-time.Since(start) {
		return false
	}
	if deadline, ok := ctx.Deadline(); ok && delay >= time.Until(deadline) {
		return false
	}
	return true
}

// Attempt returns the number of the attempt, 1 for the first, that ctx was
// given to by the innermost [Retry] running it. Outside any retry it returns
// 1: a call not retried is its own first attempt.
func Attempt(ctx context.Context) int {
	if c, ok := ctx.Value(attemptKey{}).(*attemptContext); ok {
		return c.attempt
	}
	return 1
}

// attemptKey is the context key under which an attemptContext finds itself.
type attemptKey struct{}

// attemptContext is the context of a retry's attempt, carrying its number:
// one allocation per retry, and none for a first attempt, whose number
// Attempt infers from the absence of any. Only the first attempt of a retry
// nested in another's retry needs one, to hide the outer number.
type attemptContext struct {
	context.Context
	attempt int
}

func (c *attemptContext) Value(key any) any {
	if _, ok := key.(attemptKey); ok {
		return c
	}
	return c.Context.Value(key)
}

var _ policy.ModalPolicy = (*Retry)(nil)

// AttemptMode returns policy.SequentialAttempts: the policy runs its
// function at most once at a time, and never after Execute returns.
func (*Retry) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }
