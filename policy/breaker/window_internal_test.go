package breaker

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"

	"github.com/palisade-go/palisade/telemetry"
)

func TestRingIndexIsPositionModuloSize(t *testing.T) {
	positions := []uint64{0, 1, 2, 99, 100, 101, 9_999, 10_000, 123_456_789, math.MaxUint32 - 1}
	for _, n := range []int{1, 2, 3, 7, 10, 100, 1000, 9_999, 10_000, MaxWindowSize - 1, MaxWindowSize} {
		r := newRing(n)
		for _, pos := range positions {
			assert.Equal(t, uint32(pos%uint64(n)), r.index(pos), "n=%d pos=%d", n, pos)
		}
		for pos := range uint64(3 * n) {
			if r.index(pos) != uint32(pos%uint64(n)) {
				t.Fatalf("n=%d pos=%d: index %d", n, pos, r.index(pos))
			}
			if pos > 100_000 {
				break
			}
		}
	}
}

// A window on the slots of the one before finds them empty, durations
// included, and so does the one after a wrap of the generation, whose slots
// are cleared.
func TestNextWindowFindsReusedSlotsEmpty(t *testing.T) {
	for _, startGen := range []uint32{0, genMask - 1} {
		w := newCountWindow(4, true)
		w.tag = startGen << outcomeBits
		for i := range uint32(4) {
			w.record(i, outcomeOK|outcomeFailed|outcomeSlow, 100)
		}
		for range 3 { // through the wrap, from genMask-1
			w = w.next()
			if w.calls != 0 || w.failures != 0 || w.slow != 0 || w.durSum != 0 {
				t.Fatalf("gen %d: counts %d %d %d %d", w.tag>>outcomeBits, w.calls, w.failures, w.slow, w.durSum)
			}
			w.record(1, outcomeOK, 7)
			w.record(1, outcomeOK|outcomeFailed, 5) // replaces its own
			if w.calls != 1 || w.failures != 1 || w.slow != 0 || w.durSum != 5 {
				t.Fatalf("gen %d: after two records, counts %d %d %d %d", w.tag>>outcomeBits, w.calls, w.failures, w.slow, w.durSum)
			}
			if !w.holds(w.slots[1].Load(), outcomeOK|outcomeFailed) || w.holds(w.slots[0].Load(), outcomeOK|outcomeFailed|outcomeSlow) {
				t.Fatalf("gen %d: slots %v", w.tag>>outcomeBits, w.slots[0].Load())
			}
		}
	}
}

// The counters stay two words until goroutines contend for them, and count
// exactly either way.
func TestCountersSpreadOnlyUnderContention(t *testing.T) {
	var c counters
	for range 1000 {
		c.addCall()
		c.addRejected()
	}
	if c.stripes.Load() != nil {
		t.Fatal("one goroutine made the counters spread")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20000 {
				c.addCall()
				c.addRejected()
			}
		})
	}
	wg.Wait()
	calls, rejected := c.totals()
	if calls != 1000+8*20000 || rejected != 1000+8*20000 {
		t.Fatalf("totals %d, %d; want %d each", calls, rejected, 1000+8*20000)
	}
	t.Logf("spread under contention: %v", c.stripes.Load() != nil)
}

func TestIdleBreakerIsSmall(t *testing.T) {
	if size := unsafe.Sizeof(Breaker{}); size > 640 {
		t.Fatalf("a Breaker is %d bytes: its counters must not be spread before contention", size)
	}
}

// A count window is made by the first outcome it must hold: a breaker that
// is never called, one of thousands in a registry, has none.
func TestCountWindowIsMadeByTheFirstOutcome(t *testing.T) {
	b := Must(Config{Telemetry: telemetry.Disabled()})
	assert.Nil(t, b.ep.Load().cw.Load(), "a new breaker has no count window")
	assert.NoError(t, b.Execute(t.Context(), func(context.Context) error { return nil }))
	w := b.ep.Load().cw.Load()
	if assert.NotNil(t, w, "the first outcome makes the window") {
		assert.Equal(t, int64(1), w.calls)
		assert.Len(t, w.slots, DefaultWindowSize)
	}
	assert.Equal(t, 1, b.Metrics().Calls)
}

// An outcome of a closed period that ended before any outcome made its
// window is late: it is counted, and makes no window for a period that is
// over.
func TestLateOutcomeOfAPeriodWithoutWindowIsOnlyCounted(t *testing.T) {
	b := Must(Config{Telemetry: telemetry.Disabled(), MinimumThroughput: 1})
	p, err := b.Allow()
	assert.NoError(t, err)
	first := b.ep.Load()
	b.Reset() // a new closed period, before p's outcome
	p.Done(errors.New("late failure"))
	assert.Nil(t, first.cw.Load(), "the period that is over gets no window")
	m := b.Metrics()
	assert.Equal(t, Closed, m.State, "a late failure opens nothing")
	assert.Equal(t, 0, m.Failures)
	assert.Equal(t, int64(1), m.TotalCalls)
	assert.Nil(t, b.ep.Load().cw.Load(), "nor does it make the new period's window")
}
