package bulkhead

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-go/palisade/internal/contract"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
)

// waitersFlag, set in Bulkhead.state, says the queue is non-empty. It is
// greater than any in-flight count, so one comparison with the limit tells
// the fast path both that a slot is free and that nobody waits for it.
const waitersFlag = 1 << 62

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
	report   *report.Bulkhead

	_ [64]byte // keep the contended word off the read-only fields' cache line

	// state is the number of slots held (calls running, and slots handed
	// to waiters that have yet to start), plus waitersFlag while the queue
	// is non-empty, which makes it >= max so that the fast path takes no
	// slot. The flag is set and cleared only under mu, with the queue; it
	// is set only when every slot is taken. While it is set, slots are
	// taken only under mu, and every slot freed is followed by a handOff:
	// a free slot never sits unseen by a waiter.
	state atomic.Int64

	_ [56]byte

	mu         sync.Mutex
	head, tail *waiter      // the queue, oldest first; guarded by mu
	queued     atomic.Int64 // its length; written under mu
}

// waiter is a call in the queue.
type waiter struct {
	prev, next *waiter
	// granted is set, under mu, when a slot is handed to the waiter; ch
	// then receives one value.
	granted bool
	ch      chan struct{}
}

// Name returns the policy's name.
func (b *Bulkhead) Name() string { return b.name }

// MaxConcurrent returns how many calls may run at once.
func (b *Bulkhead) MaxConcurrent() int { return int(b.max) }

// InFlight returns how many slots are taken: calls running, and calls just
// handed a slot that have yet to start.
func (b *Bulkhead) InFlight() int { return int(b.state.Load() &^ waitersFlag) }

// Queued returns how many calls are waiting for a slot.
func (b *Bulkhead) Queued() int { return int(b.queued.Load()) }

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
	if !b.tryAcquire() {
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
	if !b.tryAcquire() {
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

// tryAcquire takes a free slot if there is one and nobody is waiting.
func (b *Bulkhead) tryAcquire() bool {
	for {
		s := b.state.Load()
		if s >= b.max { // every slot taken, or waitersFlag set
			return false
		}
		if b.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// release frees a slot, or hands it to the first waiter.
func (b *Bulkhead) release() {
	s := b.state.Add(-1)
	if s < 0 {
		b.releaseUnheld()
	} else if s&waitersFlag != 0 {
		b.handOff()
	}
}

// releaseUnheld undoes the release of a slot that nobody held (a Permit
// released twice), and panics.
//
//go:noinline
func (b *Bulkhead) releaseUnheld() {
	b.state.Add(1)
	panic("palisade/bulkhead: " + b.name + ": release of a slot not held")
}

// handOff gives a free slot to the first waiter, after release has freed
// one while the flag was set. The flag keeps the fast path from taking the
// slot meanwhile; but if the queue emptied since (the last waiter gave up,
// clearing the flag), a newcomer may have taken it, and a later newcomer
// may have queued: hence the check that a slot is still free.
func (b *Bulkhead) handOff() {
	if testHookHandOff != nil {
		testHookHandOff()
	}
	b.mu.Lock()
	w := b.head
	// With the flag set, only releases change the count without mu, and
	// they lower it: a slot free now stays free until taken here.
	if w == nil || b.state.Load()&^waitersFlag >= b.max {
		b.mu.Unlock()
		return
	}
	// Take the slot for w, and clear the flag if w was the last waiter,
	// in one step: cleared first, the slot could be taken twice.
	delta := int64(1)
	if b.unlink(w) {
		delta -= waitersFlag
	}
	b.state.Add(delta)
	w.granted = true
	w.ch <- struct{}{} // buffered: never blocks
	b.mu.Unlock()
}

// acquireSlow queues the call for a slot, or refuses it.
func (b *Bulkhead) acquireSlow(ctx context.Context) error {
	b.mu.Lock()
	if b.head == nil {
		// The flag is clear, so calls finishing may still free slots
		// without the lock: take one if so, else set the flag, which
		// closes the fast path.
		for {
			s := b.state.Load()
			if s < b.max {
				if b.state.CompareAndSwap(s, s+1) {
					b.mu.Unlock()
					return nil
				}
				continue
			}
			if b.maxQueue == 0 {
				b.mu.Unlock()
				return b.reject(ctx, b.errFull)
			}
			if err := ctx.Err(); err != nil {
				b.mu.Unlock()
				return b.waitEnded(err, 0)
			}
			if b.state.CompareAndSwap(s, s|waitersFlag) {
				break
			}
		}
	} else {
		if int(b.queued.Load()) >= b.maxQueue {
			b.mu.Unlock()
			return b.reject(ctx, b.errFull)
		}
		if err := ctx.Err(); err != nil {
			b.mu.Unlock()
			return b.waitEnded(err, 0)
		}
	}
	w := &waiter{ch: make(chan struct{}, 1)}
	if b.tail == nil {
		b.head = w
	} else {
		b.tail.next, w.prev = w, b.tail
	}
	b.tail = w
	b.queued.Add(1)
	b.mu.Unlock()
	return b.wait(ctx, w)
}

// wait waits, in the queue, for a slot.
func (b *Bulkhead) wait(ctx context.Context, w *waiter) error {
	start := time.Now() // for the error of a waiter whose context ends
	var expired <-chan time.Time
	if b.maxWait > 0 {
		t := time.NewTimer(b.maxWait)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-w.ch:
		return b.granted(ctx, start)
	case <-ctx.Done():
	case <-expired:
	}
	if testHookGiveUp != nil {
		testHookGiveUp()
	}
	b.mu.Lock()
	if w.granted {
		// A slot was handed over as the waiter gave up: it is its own
		// now, to use or to pass on.
		b.mu.Unlock()
		<-w.ch
		return b.granted(ctx, start)
	}
	if b.unlink(w) {
		b.state.Add(-waitersFlag)
	}
	b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return b.waitEnded(err, time.Since(start))
	}
	return b.reject(ctx, b.errWait)
}

// granted decides what a waiter handed a slot does with it: use it, unless
// its context has ended, in which case it passes the slot on. A waiter
// whose MaxWait passed just as a slot came uses the slot.
func (b *Bulkhead) granted(ctx context.Context, start time.Time) error {
	if err := ctx.Err(); err != nil {
		b.release()
		return b.waitEnded(err, time.Since(start))
	}
	return nil
}

// waitEnded returns the error of a call whose context ended (with err)
// while it waited, or was about to wait, for a slot: it never reached its
// function, so it matches policy.ErrRejected as well as err. It is not
// counted as a rejection: the caller, not the bulkhead, gave up.
func (b *Bulkhead) waitEnded(err error, waited time.Duration) error {
	return &Error{Policy: b.name, Waited: waited, Err: err}
}

// unlink removes w from the queue, and reports whether that emptied it;
// mu must be held. The caller then clears the flag, letting calls take free
// slots without the lock again.
func (b *Bulkhead) unlink(w *waiter) (emptied bool) {
	if w.prev == nil {
		b.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		b.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	b.queued.Add(-1)
	return b.head == nil
}

// reject reports a refused call and returns its error.
func (b *Bulkhead) reject(ctx context.Context, err *Error) error {
	b.report.Rejected(ctx)
	return err
}

// testHookGiveUp, if set, runs when a waiter has decided to give up and has
// yet to take the lock: tests use it to hand the waiter a slot at that very
// moment.
var testHookGiveUp func()

// testHookHandOff, if set, runs when release has freed a slot with waiters
// queued and has yet to take the lock to hand it over.
var testHookHandOff func()

var _ policy.ModalPolicy = (*Bulkhead)(nil)

// AttemptMode returns policy.SequentialAttempts: the policy runs its
// function at most once at a time, and never after Execute returns.
func (*Bulkhead) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }
