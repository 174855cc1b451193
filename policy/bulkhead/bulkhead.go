package bulkhead

import (
	"context"
	"time"

	"github.com/palisade-go/palisade/internal/contract"
	"github.com/palisade-go/palisade/internal/gate"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
)

// Bulkhead is a policy that limits how many calls run at once, with an
// optional bounded queue of waiting calls. It is safe for concurrent use.
type Bulkhead struct {
	// Read-only after New.
	max      int64
	maxQueue int
	maxWait  time.Duration
	name     string
	errFull  *Error // refused at once
	errWait  *Error // MaxWait passed in the queue
	rejected *report.Counter

	// The slots and the queue: the gate shared with the adaptive limiter
	// (internal/gate), here with a limit that never moves.
	gate gate.Gate
}

// Name returns the policy's name.
func (b *Bulkhead) Name() string { return b.name }

// MaxConcurrent returns how many calls may run at once.
func (b *Bulkhead) MaxConcurrent() int { return int(b.max) }

// InFlight returns how many slots are taken: calls running, and calls just
// handed a slot that have yet to start.
func (b *Bulkhead) InFlight() int { return b.gate.InFlight() }

// Queued returns how many calls are waiting for a slot.
func (b *Bulkhead) Queued() int { return b.gate.Queued() }

// observe gives the telemetry reporter, at collection time, what the
// bulkhead's observed instruments report.
func (b *Bulkhead) observe() (inFlight, limit, queued int) {
	return b.InFlight(), int(b.max), b.Queued()
}

// Execute runs fn once it holds a slot, and frees the slot when fn returns
// or panics (the panic goes on). fn's error comes back unchanged. When no
// slot is free and none comes in time, fn does not run and Execute returns
// an error matching ErrFull, or, if ctx ended while the call was waiting,
// an error matching ctx.Err() and policy.ErrRejected.
func (b *Bulkhead) Execute(ctx context.Context, fn policy.Func) error {
	if fn == nil {
		// Before taking a slot: the caller's mistake, named, rather than a
		// nil dereference with a slot held.
		panic(contract.NilFunc("bulkhead"))
	}
	if ok, _ := b.gate.TryAcquire(); !ok {
		if err := b.acquireSlow(ctx); err != nil {
			return err
		}
	}
	defer b.release()
	return fn(ctx)
}

// Acquire takes a slot, waiting for one as Execute does, for work that
// cannot be wrapped in a function: the two-step form of Execute, as
// breaker.Breaker.AllowContext is the breaker's. On success the caller must
// end the Permit with Release when the work is done; on error it holds
// nothing, and the zero Permit returned with the error releases nothing. An
// error matches ErrFull, or, if ctx ended while the call was waiting, ctx's
// error and policy.ErrRejected, as Execute's would.
//
//	permit, err := b.Acquire(ctx)
//	if err != nil {
//		return err
//	}
//	defer permit.Release()
func (b *Bulkhead) Acquire(ctx context.Context) (Permit, error) {
	if ok, _ := b.gate.TryAcquire(); !ok {
		if err := b.acquireSlow(ctx); err != nil {
			return Permit{}, err
		}
	}
	return Permit{b: b}, nil
}

// Permit is a slot taken by [Bulkhead.Acquire]. It is a small value:
// taking one allocates nothing.
type Permit struct {
	b *Bulkhead
}

// Release frees the slot, handing it to the first waiter if any. It zeroes
// the Permit, so that releasing the same variable again does nothing, as
// does releasing the zero Permit. (A copy of a Permit taken before Release
// is not zeroed: release one copy only. The bulkhead panics if it notices a
// slot released that nobody held.)
func (p *Permit) Release() {
	if b := p.b; b != nil {
		p.b = nil
		b.release()
	}
}

// release frees a slot, or hands it to the first waiter.
func (b *Bulkhead) release() {
	if !b.gate.Release() {
		b.releaseUnheld()
	}
}

// releaseUnheld panics for the release of a slot that nobody held (a Permit
// released twice); the gate has undone it.
//
//go:noinline
func (b *Bulkhead) releaseUnheld() {
	panic("palisade/bulkhead: " + b.name + ": release of a slot not held")
}

// acquireSlow queues the call for a slot, or refuses it, reporting a
// refusal.
func (b *Bulkhead) acquireSlow(ctx context.Context) error {
	err := b.gate.AcquireSlow(ctx, b.waitEnded, b.errFull, b.errWait)
	if err == error(b.errFull) || err == error(b.errWait) {
		b.rejected.Inc(ctx)
	}
	return err
}

// waitEnded returns the error of a call whose context ended (with err)
// while it waited, or was about to wait, for a slot: it never reached its
// function, so it matches policy.ErrRejected as well as err. It is not
// counted as a rejection: the caller, not the bulkhead, gave up.
func (b *Bulkhead) waitEnded(err error, waited time.Duration) error {
	return &Error{Policy: b.name, Waited: waited, Err: err}
}

var _ policy.ModalPolicy = (*Bulkhead)(nil)

// AttemptMode returns policy.SequentialAttempts: the policy runs its
// function at most once at a time, and never after Execute returns.
func (*Bulkhead) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }
