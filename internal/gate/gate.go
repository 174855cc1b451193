// Package gate admits calls up to a limit, with an optional bounded FIFO
// queue of waiting calls: the mechanism of the bulkhead (a fixed limit) and
// of the adaptive limiter (a limit that moves).
//
// The fast path is one compare-and-swap on one word, which counts the slots
// held and carries a flag while anyone waits, so that one comparison with
// the limit tells both that a slot is free and that nobody queues for it.
// While the flag is set, slots are taken only under the lock, and every
// slot freed (or added by a raised limit) is handed to the oldest waiter: a
// free slot never sits unseen by a waiter, and a waiter that gives up just
// as it is handed a slot keeps it, to use or to pass on.
package gate

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// waitersFlag, set in gate.state, says the queue is non-empty. It is greater
// than any in-flight count, so one comparison with the limit tells the fast
// path both that a slot is free and that nobody waits for it.
const waitersFlag = 1 << 62

// The state word also counts, in bits 32 to 47, the calls that took the
// fast path, wrapping: one call in SampleEvery is picked (for the adaptive
// limiter to time it), at no cost beyond the compare-and-swap that takes
// its slot.
const (
	inFlightMask = 1<<32 - 1
	callUnit     = 1 << 32
	callMask     = 0xffff << 32
	// SampleEvery is how often TryAcquire reports a call as sampled.
	SampleEvery = 8
)

// MaxLimit is the highest limit a Gate takes: the count of slots held
// shares its word with the queue flag and the sampling counter.
const MaxLimit = inFlightMask - 1

// Gate admits calls up to a limit, read at each decision: a raised limit
// hands the new slots to the waiters at once, a lowered one takes effect as
// calls finish (no running call is interrupted, and no slot is handed on
// while the calls in flight are at or above the limit). Prepare one with
// Init.
type Gate struct {
	maxQueue int
	maxWait  time.Duration

	_ [64]byte

	// state is the number of slots held (calls running, and slots handed
	// to waiters that have yet to start), plus waitersFlag while the queue
	// is non-empty. The flag is set and cleared only under mu, with the
	// queue; it is set only when every slot is taken. While it is set,
	// slots are taken only under mu, and every slot freed (or added by a
	// raised limit) is followed by a hand-off: a free slot never sits
	// unseen by a waiter.
	state atomic.Int64
	limit atomic.Int64

	_ [48]byte

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

// Init prepares a zero Gate, typically a field of its policy, to admit
// limit calls at once, with a queue of maxQueue waiting calls (0: none) each
// waiting at most maxWait (0: until its context ends). A Gate must not be
// copied once in use.
func (g *Gate) Init(limit int64, maxQueue int, maxWait time.Duration) {
	g.maxQueue, g.maxWait = maxQueue, maxWait
	g.limit.Store(limit)
}

// InFlight returns how many slots are held: calls running, and calls just
// handed a slot that have yet to start.
func (g *Gate) InFlight() int { return int(g.state.Load() & inFlightMask) }

// Limit returns the limit.
func (g *Gate) Limit() int64 { return g.limit.Load() }

// Queued returns how many calls wait for a slot.
func (g *Gate) Queued() int { return int(g.queued.Load()) }

// TryAcquire takes a free slot if there is one and nobody is waiting, and
// says whether the call is one of the one in sampleEvery to be timed.
func (g *Gate) TryAcquire() (ok, sampled bool) {
	for {
		s := g.state.Load()
		if s&^callMask >= g.limit.Load() { // every slot taken, or waitersFlag set
			return false, false
		}
		calls := (s + callUnit) & callMask
		if g.state.CompareAndSwap(s, s&^callMask+1|calls) {
			return true, calls%(SampleEvery*callUnit) == 0
		}
	}
}

// Release frees a slot, or hands it to the first waiter.
// It reports false, changing nothing, when no slot was held: a slot
// released twice.
func (g *Gate) Release() bool {
	s := g.state.Add(-1)
	if s&inFlightMask == inFlightMask { // it went below zero
		g.state.Add(1)
		return false
	}
	if s&waitersFlag != 0 {
		g.handOff()
	}
	return true
}

// handOff gives free slots to waiters, after a release (or a raised limit)
// while the flag was set. With the flag set, only releases change the count
// without mu, and they lower it: a slot free now stays free until taken
// here.
func (g *Gate) handOff() {
	if TestHookHandOff != nil {
		TestHookHandOff()
	}
	g.mu.Lock()
	g.handOffLocked()
	g.mu.Unlock()
}

// handOffLocked hands free slots to waiters, first come first served; mu
// must be held.
func (g *Gate) handOffLocked() {
	for {
		w := g.head
		if w == nil || g.state.Load()&inFlightMask >= g.limit.Load() {
			break
		}
		// Take the slot for w, and clear the flag if w was the last
		// waiter, in one step: cleared first, the slot could be taken
		// twice.
		delta := int64(1)
		if g.unlink(w) {
			delta -= waitersFlag
		}
		g.state.Add(delta)
		w.granted = true
		w.ch <- struct{}{} // buffered: never blocks
	}
}

// SetLimit changes the limit, and hands the slots a raise adds to waiters.
func (g *Gate) SetLimit(limit int64) {
	if old := g.limit.Swap(limit); limit > old && g.state.Load()&waitersFlag != 0 {
		g.handOff()
	}
}

// AcquireSlow is what a call does when TryAcquire found no slot: take one
// if one was freed meanwhile, else queue for one. It returns nil with a
// slot held; errFull when the queue is full (or there is none); errWait
// when maxWait passed; and waitEnded's error when ctx ended, waitEnded
// being given the context's error and how long the call waited.
func (g *Gate) AcquireSlow(ctx context.Context, waitEnded func(error, time.Duration) error, errFull, errWait error) error {
	g.mu.Lock()
	if g.head == nil {
		for {
			s := g.state.Load()
			if s&inFlightMask < g.limit.Load() {
				if g.state.CompareAndSwap(s, s+1) {
					g.mu.Unlock()
					return nil
				}
				continue
			}
			if g.maxQueue == 0 {
				g.mu.Unlock()
				return errFull
			}
			if err := ctx.Err(); err != nil {
				g.mu.Unlock()
				return waitEnded(err, 0)
			}
			if g.state.CompareAndSwap(s, s|waitersFlag) {
				break
			}
		}
	} else {
		if int(g.queued.Load()) >= g.maxQueue {
			g.mu.Unlock()
			return errFull
		}
		if err := ctx.Err(); err != nil {
			g.mu.Unlock()
			return waitEnded(err, 0)
		}
	}
	w := &waiter{ch: make(chan struct{}, 1)}
	if g.tail == nil {
		g.head = w
	} else {
		g.tail.next, w.prev = w, g.tail
	}
	g.tail = w
	g.queued.Add(1)
	// A limit raised between the reading above and the flag being set
	// may have found no flag to hand its slots on: look again.
	g.handOffLocked()
	g.mu.Unlock()

	start := time.Now()
	var expired <-chan time.Time
	if g.maxWait > 0 {
		t := time.NewTimer(g.maxWait)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-w.ch:
		return g.granted(ctx, start, waitEnded)
	case <-ctx.Done():
	case <-expired:
	}
	if TestHookGiveUp != nil {
		TestHookGiveUp()
	}
	g.mu.Lock()
	if w.granted {
		// A slot was handed over as the waiter gave up: it is its own
		// now, to use or to pass on.
		g.mu.Unlock()
		<-w.ch
		return g.granted(ctx, start, waitEnded)
	}
	if g.unlink(w) {
		g.state.Add(-waitersFlag)
	}
	g.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return waitEnded(err, time.Since(start))
	}
	return errWait
}

// granted decides what a waiter handed a slot does with it: use it, unless
// its context has ended, in which case it passes the slot on.
func (g *Gate) granted(ctx context.Context, start time.Time, waitEnded func(error, time.Duration) error) error {
	if err := ctx.Err(); err != nil {
		g.Release()
		return waitEnded(err, time.Since(start))
	}
	return nil
}

// TestHookGiveUp, if set, runs when a waiter has decided to give up and has
// yet to take the lock: tests use it to hand the waiter a slot at that very
// moment. TestHookHandOff, if set, runs when a release has freed a slot
// with waiters queued and has yet to take the lock to hand it over. Only
// tests set them.
var TestHookGiveUp, TestHookHandOff func()

// unlink removes w from the queue, and reports whether that emptied it; mu
// must be held.
func (g *Gate) unlink(w *waiter) (emptied bool) {
	if w.prev == nil {
		g.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		g.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	g.queued.Add(-1)
	return g.head == nil
}
