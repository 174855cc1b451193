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
	"fmt"
	"sync"
	"time"
)

// Func is the function a policy protects. It must honour ctx: policies such
// as timeout cancel it to end the call.
type Func func(ctx context.Context) error

// Policy runs functions under a resilience rule. Execute runs fn as the
// policy allows — zero times for a rejection, more than once for a retry or
// a hedge — and returns the outcome of the call. A Policy must be safe for
// concurrent use and must pass fn a context derived from ctx.
//
// Unless it declares otherwise (see [AttemptMode]), a policy must not call
// fn once its Execute has returned: a [Pipeline] checks this, at the cost
// of a small allocation per call, and panics with a message naming the
// policy if it does.
type Policy interface {
	Execute(ctx context.Context, fn Func) error
}

// AttemptMode is how a policy runs its function, which a policy declares by
// implementing [ModalPolicy]. A [Pipeline] composes each policy according
// to its mode: sequential ones at no allocation per call, the others so
// that an attempt always runs its own call's function, whenever it runs.
type AttemptMode uint8

const (
	// UndeclaredAttempts is the mode of a policy that declares none: it
	// must keep the Policy contract's default rule — no call of its
	// function after its Execute returned — which the Pipeline checks.
	UndeclaredAttempts AttemptMode = iota

	// SequentialAttempts: the policy runs its function at most once at a
	// time, and every attempt ends before its Execute returns. A Pipeline
	// relies on it to reuse its per-call state without allocating; a policy
	// that breaks it may run another call's function. Every policy of this
	// module but hedge and an abandoning timeout declares it.
	SequentialAttempts

	// ConcurrentAttempts: the policy may run its function several times at
	// once (a hedge), and attempts may outlive its Execute (an abandoning
	// timeout, the losers of a hedge) or start, on goroutines it started,
	// after Execute returned. Its attempts must still end on their own: a
	// policy cancels the context of the attempts it no longer waits for.
	ConcurrentAttempts
)

// ModalPolicy is a [Policy] that declares its [AttemptMode].
type ModalPolicy interface {
	Policy
	AttemptMode() AttemptMode
}

// ModeOf returns the mode p declares, or [UndeclaredAttempts].
func ModeOf(p Policy) AttemptMode {
	if m, ok := p.(ModalPolicy); ok {
		return m.AttemptMode()
	}
	return UndeclaredAttempts
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

// Get runs fn through p and returns its value along with p's error.
//
// The value is that of the attempt whose outcome p returned: for a policy
// that runs attempts one after the other (a retry), the last attempt that
// ran; for one that runs them at the same time (a hedge), the first attempt
// that succeeded, or, when none did, the last one that ended before p
// returned. It is the zero value when no attempt ran. An attempt that ends
// after p returned (an abandoned one, a losing hedge) changes nothing.
//
// Through a [Pipeline], Get costs one allocation per call beyond what its
// policies cost.
func Get[T any](ctx context.Context, p Policy, fn func(context.Context) (T, error)) (T, error) {
	if fn == nil {
		panic("palisade/policy: Get called with a nil function")
	}
	r := &result[T]{fn: fn, concurrent: ModeOf(p) != SequentialAttempts}
	var err error
	if pl, ok := p.(*Pipeline); ok {
		err = pl.run(ctx, nil, r)
	} else {
		err = p.Execute(ctx, r.attempt)
	}
	return r.value(), err
}

// result is the state of one call of Get.
type result[T any] struct {
	fn         func(context.Context) (T, error)
	concurrent bool // attempts may overlap or outlive the call

	mu     sync.Mutex // guards what follows when concurrent
	v      T
	won    bool // v is a successful attempt's
	sealed bool // Get has returned: attempts ending now change nothing
}

func (r *result[T]) attempt(ctx context.Context) error {
	v, err := r.fn(ctx)
	if !r.concurrent {
		r.v = v
		return err
	}
	r.mu.Lock()
	if !r.sealed && !r.won {
		r.v, r.won = v, err == nil
	}
	r.mu.Unlock()
	return err
}

func (r *result[T]) value() T {
	if !r.concurrent {
		return r.v
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sealed = true
	return r.v
}

// typeName is the name of p's type, for messages.
func typeName(p any) string { return fmt.Sprintf("%T", p) }
