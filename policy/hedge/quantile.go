package hedge

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// The latency histogram: log-linear buckets of nanoseconds, 16 per power
// of two (a bucket is at most 1/16 ≈ 6% wide), from 1 ns to 2^40 ns (18
// minutes; longer samples count in the last bucket).
const (
	subBuckets = 16
	maxShift   = 35 // 2^40 ns: bits.Len64 40, shift 40-5
	numBuckets = (maxShift + 2) * subBuckets
)

// bucketOf returns the bucket of a duration of ns nanoseconds.
func bucketOf(ns int64) int {
	if ns < subBuckets {
		return int(max(ns, 0))
	}
	shift := bits.Len64(uint64(ns)) - 5
	if shift > maxShift {
		return numBuckets - 1
	}
	return (shift+1)*subBuckets + int(uint64(ns)>>shift) - subBuckets
}

// upperBound returns the smallest duration above every one of bucket i.
func upperBound(i int) time.Duration {
	if i < subBuckets {
		return time.Duration(i + 1)
	}
	shift := i/subBuckets - 1
	m := int64(i%subBuckets + subBuckets)
	return time.Duration((m + 1) << shift)
}

// quantile estimates a quantile of recent latencies in constant memory.
//
// Samples count in the current of two generations of a histogram; when the
// current one holds generation samples, it becomes the previous one and a
// fresh one starts. The estimate reads both, so it reflects the last
// generation to 2×generation samples: a sliding window over samples, not
// time, which adapts as fast as traffic comes. Every few samples the
// estimate is recomputed and published in an atomic, so reading it costs
// one atomic load.
type quantile struct {
	q          float64
	generation int // samples per generation
	minSamples int // before which there is no estimate

	mu        sync.Mutex
	cur, prev *[numBuckets]uint32
	curN      int
	prevN     int
	sinceEst  int

	estimate atomic.Int64 // nanoseconds; < 0 while there is none
}

// recomputeEvery is how many samples pass between two estimates.
const recomputeEvery = 32

func newQuantile(q float64) *quantile {
	tail := 1 - q
	e := &quantile{
		q:          q,
		generation: int(min(max(512, math.Ceil(20/tail)), 1<<20)),
		minSamples: int(min(max(16, math.Ceil(2/tail)), 1<<20)),
		cur:        new([numBuckets]uint32),
		prev:       new([numBuckets]uint32),
	}
	e.estimate.Store(-1)
	return e
}

// get returns the estimate, false while there are too few samples.
func (e *quantile) get() (time.Duration, bool) {
	ns := e.estimate.Load()
	return time.Duration(ns), ns >= 0
}

// add counts one latency sample.
func (e *quantile) add(d time.Duration) {
	b := bucketOf(int64(d))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.curN == e.generation {
		e.cur, e.prev = e.prev, e.cur
		*e.cur = [numBuckets]uint32{}
		e.prevN, e.curN = e.curN, 0
	}
	e.cur[b]++
	e.curN++
	e.sinceEst++
	n := e.curN + e.prevN
	if n < e.minSamples || e.sinceEst < recomputeEvery && e.estimate.Load() >= 0 {
		return
	}
	e.sinceEst = 0
	// The smallest bucket bound with at least q of the samples at or
	// below it.
	rank := uint64(math.Ceil(e.q * float64(n)))
	var seen uint64
	for i := range numBuckets {
		seen += uint64(e.cur[i]) + uint64(e.prev[i])
		if seen >= rank {
			e.estimate.Store(int64(upperBound(i)))
			return
		}
	}
	e.estimate.Store(int64(upperBound(numBuckets - 1)))
}
