package limiter

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
// fast path, wrapping: one call in sampleEvery is picked to be timed, at no
// cost beyond the compare-and-swap that takes its slot.
const (
	inFlightMask = 1<<32 - 1
	callUnit     = 1 << 32
	callMask     = 0xffff << 32
	sampleEvery  = 8
)

// gate admits calls up to a limit that moves, with an optional FIFO queue.
// It is the bulkhead's design (see policy/bulkhead) with the limit read at
// each decision instead of fixed: a raised limit hands the new slots to the
// waiters at once (admitWaiters), a lowered one takes effect as calls
// finish (no running call is interrupted, and no slot is handed on while
// the calls in flight are at or above the limit).
type gate struct {
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

func (g *gate) inFlight() int { return int(g.state.Load() & inFlightMask) }

// tryAcquire takes a free slot if there is one and nobody is waiting, and
// says whether the call is one of the one in sampleEvery to be timed.
func (g *gate) tryAcquire() (ok, sampled bool) {
	for {
		s := g.state.Load()
		if s&^callMask >= g.limit.Load() { // every slot taken, or waitersFlag set
			return false, false
		}
		calls := (s + callUnit) & callMask
		if g.state.CompareAndSwap(s, s&^callMask+1|calls) {
			return true, calls%(sampleEvery*callUnit) == 0
		}
	}
}

// release frees a slot, or hands it to the first waiter.
func (g *gate) release() {
	if s := g.state.Add(-1); s&waitersFlag != 0 {
		g.handOff()
	}
}

// handOff gives free slots to waiters, after a release (or a raised limit)
// while the flag was set. With the flag set, only releases change the count
// without mu, and they lower it: a slot free now stays free until taken
// here.
func (g *gate) handOff() {
	g.mu.Lock()
	g.handOffLocked()
	g.mu.Unlock()
}

// handOffLocked hands free slots to waiters, first come first served; mu
// must be held.
func (g *gate) handOffLocked() {
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

// setLimit changes the limit, and hands the slots a raise adds to waiters.
func (g *gate) setLimit(limit int64) {
	if old := g.limit.Swap(limit); limit > old && g.state.Load()&waitersFlag != 0 {
		g.handOff()
	}
}

// acquireSlow queues the call for a slot. It returns errFull when the queue
// is full (or there is none), errWait when MaxWait passed, and a
// wait-ended error (from waitEnded) when ctx ended.
func (g *gate) acquireSlow(ctx context.Context, waitEnded func(error, time.Duration) error, errFull, errWait error) error {
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
func (g *gate) granted(ctx context.Context, start time.Time, waitEnded func(error, time.Duration) error) error {
	if err := ctx.Err(); err != nil {
		g.release()
		return waitEnded(err, time.Since(start))
	}
	return nil
}

// unlink removes w from the queue, and reports whether that emptied it; mu
// must be held.
func (g *gate) unlink(w *waiter) (emptied bool) {
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
