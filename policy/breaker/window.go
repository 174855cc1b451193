package breaker

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Outcome bits, as stored in the slots of a count window.
const (
	outcomeRecorded uint32 = 1 << iota // the slot holds an outcome
	outcomeFailed                      // the call failed
	outcomeSlow                        // the call was slow

	outcomeOK = outcomeRecorded // a success, not slow

	outcomeBits = 3 // the bits above them hold the window's generation
	outcomeMask = 1<<outcomeBits - 1
	genMask     = 1<<(32-outcomeBits) - 1
)

// ring maps the breaker's running call count onto the slots of a count
// window: index(pos) is pos mod n, computed with two multiplications instead
// of a division (Lemire, "Faster Remainder by Direct Computation", 2019) on
// the low 32 bits of pos. When those wrap, once in 2³² calls, one outcome
// is overwritten early.
type ring struct {
	n, m uint64
}

func newRing(n int) ring {
	return ring{n: uint64(n), m: ^uint64(0)/uint64(n) + 1}
}

func (r ring) index(pos uint64) uint32 {
	hi, _ := bits.Mul64(r.m*uint64(uint32(pos)), r.n)
	return uint32(hi)
}

// stripes is the number of stripes of a breaker's spread counters.
const (
	stripeBits = 4
	stripes    = 1 << stripeBits
)

// stripe is one cell of a breaker's spread counters, padded so that no two
// stripes' counters share a cache line (or the adjacent line prefetched
// with it).
type stripe struct {
	calls    atomic.Int64 // successes counted without taking a slot
	rejected atomic.Int64 // rejections
	_        [128 - 16]byte
}

// counters counts the calls that take no window slot and the rejections.
// They are counted without a lock on the hot paths, so goroutines on
// different cores would fight over one cache line: as Java's LongAdder
// does, counters start as two plain words and spread over padded stripes
// only once an update finds another goroutine's in its way (a failed
// compare-and-swap). An idle or lightly used breaker so costs 24 bytes for
// them instead of 2 KB — what lets a registry keep a breaker per host — and
// a contended one still scales with the cores.
type counters struct {
	calls, rejected atomic.Int64
	stripes         atomic.Pointer[[stripes]stripe]
}

// addCall counts one call.
func (c *counters) addCall() {
	if s := c.stripes.Load(); s != nil {
		s[stripeIndex()].calls.Add(1)
		return
	}
	if v := c.calls.Load(); !c.calls.CompareAndSwap(v, v+1) {
		c.spread()[stripeIndex()].calls.Add(1)
	}
}

// addRejected counts one rejection.
func (c *counters) addRejected() {
	if s := c.stripes.Load(); s != nil {
		s[stripeIndex()].rejected.Add(1)
		return
	}
	if v := c.rejected.Load(); !c.rejected.CompareAndSwap(v, v+1) {
		c.spread()[stripeIndex()].rejected.Add(1)
	}
}

// spread returns the stripes, making them on the first contention.
func (c *counters) spread() *[stripes]stripe {
	s := new([stripes]stripe)
	if !c.stripes.CompareAndSwap(nil, s) {
		s = c.stripes.Load()
	}
	return s
}

// stripeIndex picks the calling goroutine's stripe by hashing the address
// of its stack: goroutines running at once have different stacks, so they
// mostly update different cache lines. (A goroutine whose stack moves
// changes stripe, which only matters for speed.)
func stripeIndex() uint64 {
	var anchor byte
	h := uint64(uintptr(unsafe.Pointer(&anchor))>>10) * 0x9E3779B97F4A7C15
	return h >> (64 - stripeBits)
}

// totals returns the counts.
func (c *counters) totals() (calls, rejected int64) {
	calls, rejected = c.calls.Load(), c.rejected.Load()
	if s := c.stripes.Load(); s != nil {
		for i := range s {
			calls += s[i].calls.Load()
			rejected += s[i].rejected.Load()
		}
	}
	return calls, rejected
}

// countWindow holds the last n outcomes of one closed period, one slot
// each, and their counts. Recording an outcome replaces the one n calls
// before it and adjusts the counts by the difference: O(1) whatever n.
//
// The slots are read without the breaker's lock by the fast path, which
// records nothing when the slot it was given already holds a success and
// the new outcome is one too (the slot and counts would not change); every
// change is made under the lock. While the window is clean — full, and all
// successes — a success does not even take a slot: every slot holds the
// same outcome, so which one is the oldest does not matter, and the call is
// only counted, in the breaker's stripes.
//
// A window's slots are those of the window it replaced, reused: each slot
// holds its outcome tagged with the generation of the window that wrote
// it, and a slot of an earlier generation is empty. Starting a window thus
// costs O(1) and no allocation, however large it is; only when the
// generation wraps (every 2^29 windows) are the slots cleared.
type countWindow struct {
	clean atomic.Bool // full of successes; set under the lock, untimed windows only
	tag   uint32      // generation << outcomeBits, in every slot this window wrote
	slots []atomic.Uint32
	durs  []int64 // duration of each slot's call, ns; only when calls are timed

	_ [64]byte
	// pos counts the positions given out in the ring: calls of this
	// window's closed period that took a slot. Once the window is replaced
	// it is retired: its count is harvested and the retired bit set, in
	// one step, and a late call that then asks for a position is refused
	// one, so that it can neither shift the positions of a newer window
	// nor go uncounted.
	pos atomic.Uint64
	_   [64]byte

	// Guarded by the breaker's mu.
	calls, failures, slow, durSum int64
}

// retired is set in countWindow.pos when the window is replaced.
const retired = 1 << 63

// take gives a call its position in the ring, or reports false if the
// window is retired: the call is late, and must be counted elsewhere.
func (w *countWindow) take() (pos uint64, ok bool) {
	pos = w.pos.Add(1) - 1
	return pos, pos&retired == 0
}

// retire marks the window replaced and returns how many positions it gave
// out. Called under mu.
func (w *countWindow) retire() int64 {
	return int64(w.pos.Or(retired) &^ retired)
}

func newCountWindow(n int, timed bool) *countWindow {
	w := &countWindow{slots: make([]atomic.Uint32, n)}
	if timed {
		w.durs = make([]int64, n)
	}
	return w
}

// next returns an empty window for the next closed period, on w's slots.
// Called under mu, once w is retired. A late call of w's period may still
// read a slot (atomically): what it finds only decides whether it takes
// the lock, where it is found late and records nothing.
func (w *countWindow) next() *countWindow {
	gen := (w.tag>>outcomeBits + 1) & genMask
	if gen == 0 {
		// Wrapped: a slot of the window 2^29 generations back would pass
		// for one of this window.
		for i := range w.slots {
			w.slots[i].Store(0)
		}
	}
	return &countWindow{tag: gen << outcomeBits, slots: w.slots, durs: w.durs}
}

// holds reports whether the slot word s holds outcome, written by w.
func (w *countWindow) holds(s, outcome uint32) bool { return s == outcome|w.tag }

// record puts outcome in slot i and adjusts the counts. Called under mu.
func (w *countWindow) record(i uint32, outcome uint32, dur int64) {
	s := &w.slots[i]
	old := s.Load()
	if old&^outcomeMask != w.tag || old&outcomeRecorded == 0 {
		old = 0 // empty, or of an earlier window: nothing to take out
	} else if w.durs != nil {
		w.durSum -= w.durs[i]
	}
	s.Store(outcome | w.tag)
	w.count(old, -1)
	w.count(outcome, 1)
	if w.durs != nil {
		w.durSum += dur
		w.durs[i] = dur
	}
}

func (w *countWindow) count(outcome uint32, d int64) {
	if outcome&outcomeRecorded == 0 {
		return
	}
	w.calls += d
	if outcome&outcomeFailed != 0 {
		w.failures += d
	}
	if outcome&outcomeSlow != 0 {
		w.slow += d
	}
}

// timeWindow holds the outcomes of the last WindowDuration of one closed
// period in a ring of Buckets buckets, each spanning WindowDuration/Buckets:
// bucket idx = now/width goes in buckets[idx % Buckets], replacing the
// bucket idx-Buckets that held it. The window at time now is made of the
// buckets idx-Buckets+1 … idx, so an outcome is forgotten between
// WindowDuration-width and WindowDuration after it was recorded. Recording
// is O(1) and a decision sums Buckets buckets, whatever the traffic.
//
// Successes (not slow, while no failures are in a row) are counted without
// the lock, in the low 32 bits of a bucket's word, by a compare-and-swap
// that checks the bucket is live for their index. Everything else, and
// every change of a bucket's index, is done under the breaker's lock.
type timeWindow struct {
	buckets [Buckets]bucket
}

type bucket struct {
	// word is wordLive | (idx & tagMask) << 32 | successes counted without
	// the lock; 0 when the bucket is unused or the window frozen.
	word atomic.Uint64

	// Guarded by the breaker's mu.
	idx                           int64 // -1: never used
	calls, failures, slow, durSum int64 // outcomes counted under the lock
}

const (
	wordLive  = 1 << 63
	tagMask   = 1<<31 - 1
	countMask = 1<<32 - 1
)

func wordTag(idx int64) uint64 { return wordLive | (uint64(idx)&tagMask)<<32 }

func newTimeWindow() *timeWindow {
	w := &timeWindow{}
	for i := range w.buckets {
		w.buckets[i].idx = -1
	}
	return w
}

// tryAdd counts a success in bucket idx without the lock. It reports false,
// counting nothing, when that bucket is not live for idx (it must be
// recycled first, or the window is frozen) or its count is full.
func (w *timeWindow) tryAdd(idx int64) bool {
	bk := &w.buckets[idx%Buckets]
	want := wordTag(idx)
	for {
		old := bk.word.Load()
		if old&^countMask != want || old&countMask == countMask {
			return false
		}
		if bk.word.CompareAndSwap(old, old+1) {
			return true
		}
	}
}

// bucket returns bucket idx, recycling the slot if it held an older bucket,
// and the successes counted without the lock that the recycling took out
// of the window. It returns nil if the slot holds a newer bucket (idx is
// out of the window). Called under mu.
func (w *timeWindow) bucket(idx int64) (bk *bucket, recycled int64) {
	bk = &w.buckets[idx%Buckets]
	switch {
	case bk.idx == idx:
		return bk, 0
	case bk.idx > idx:
		return nil, 0
	}
	// Swap, not Store: tryAdd only ever compares-and-swaps, so the count
	// taken out is exactly what was added for the old index.
	old := bk.word.Swap(wordTag(idx))
	bk.idx = idx
	bk.calls, bk.failures, bk.slow, bk.durSum = 0, 0, 0, 0
	return bk, int64(old & countMask)
}

func (bk *bucket) add(outcome uint32, dur int64) {
	bk.calls++
	if outcome&outcomeFailed != 0 {
		bk.failures++
	}
	if outcome&outcomeSlow != 0 {
		bk.slow++
	}
	bk.durSum += dur
}

// sums returns the counts of the window as of bucket cur. Called under mu.
func (w *timeWindow) sums(cur int64) (calls, failures, slow, durSum int64) {
	for i := range w.buckets {
		bk := &w.buckets[i]
		if bk.idx < 0 || bk.idx <= cur-Buckets {
			continue
		}
		calls += bk.calls + int64(bk.word.Load()&countMask)
		failures += bk.failures
		slow += bk.slow
		durSum += bk.durSum
	}
	return calls, failures, slow, durSum
}

// live returns the successes counted without the lock and still in the
// buckets' words. Called under mu.
func (w *timeWindow) live() (n int64) {
	for i := range w.buckets {
		n += int64(w.buckets[i].word.Load() & countMask)
	}
	return n
}

// freeze ends recording into w: it moves the successes counted without the
// lock into the buckets' locked counts and makes every tryAdd fail, so that
// calls of an earlier period cannot change w. It returns how many successes
// it moved. Called under mu.
func (w *timeWindow) freeze() (moved int64) {
	for i := range w.buckets {
		bk := &w.buckets[i]
		n := int64(bk.word.Swap(0) & countMask)
		bk.calls += n
		moved += n
	}
	return moved
}
