// Package policy defines what every palisade policy is — a [Policy] that
// runs a [Func] — and the [Pipeline] that stacks policies into one.
//
// A call through
//
//	p := policy.NewPipeline("users-api", retry, breaker, timeout, bulkhead)
//
// enters retry first, which runs breaker, which runs timeout, which runs
// bulkhead, which runs the function. The pipeline starts a span per call and
// records palisade.pipeline.duration; the policies add events to that span
// and report their own metrics through package telemetry.
//
// # Errors
//
// Every rejection by any policy (an open breaker, a full bulkhead, an
// exhausted retry budget) matches [ErrRejected] with errors.Is. An error a
// policy does not replace comes back unchanged. [RetryAfter] finds the hint,
// if any, of when trying again could succeed.
package policy

import (
	"context"
	"errors"
	"time"
)

// Func is the function a policy protects. It must honour ctx: policies such
// as timeout cancel it to end the call.
type Func func(ctx context.Context) error

// Policy runs functions under a resilience rule. Execute runs fn at most as
// the policy allows (zero times for a rejection, more than once for a retry)
// and returns its outcome. A Policy must pass fn a context derived from ctx,
// must not call fn once Execute has returned (a [Pipeline] reuses the
// functions it passes to its policies), and must be safe for concurrent use.
type Policy interface {
	Execute(ctx context.Context, fn Func) error
}

// ErrRejected is matched, with errors.Is, by every error with which a policy
// refuses to run a call: breaker.ErrOpen, bulkhead.ErrFull and
// retry.ErrBudgetExhausted. Timeouts and errors of the function do not match
// it.
var ErrRejected = errors.New("palisade: call rejected")

// RetryAfter returns the hint, carried by the first error in err's chain with
// a method
//
//	RetryAfter() time.Duration
//
// of how long to wait before trying again: the remaining break of an open
// breaker, or an HTTP Retry-After header. The boolean is false when no error
// in the chain carries a hint.
func RetryAfter(err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	h, ok := errors.AsType[retryAfterError](err)
	if !ok {
		return 0, false
	}
	return h.RetryAfter(), true
}

type retryAfterError interface {
	error
	RetryAfter() time.Duration
}

// Get runs fn through p and returns its value. The value is that of the last
// attempt that ran (the zero value when none ran), returned with p's error.
func Get[T any](ctx context.Context, p Policy, fn func(context.Context) (T, error)) (T, error) {
	var result T
	err := p.Execute(ctx, func(ctx context.Context) error {
		v, err := fn(ctx)
		result = v
		return err
	})
	return result, err
}
