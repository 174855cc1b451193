package budget

import (
	"sync"
	"time"
)

// Budget caps the extra attempts — retries and hedges — of every policy
// sharing it to a fraction of their calls.
type Budget struct {
	ratio    float64
	minExtra int
	window   time.Duration
	width    time.Duration // of a bucket
	origin   time.Time

	mu      sync.Mutex
	head    int64 // tick (time since origin / width) of the newest bucket
	calls   int64 // in the window
	extra   int64 // in the window
	buckets [numBuckets]bucket
}

type bucket struct {
	calls, extra int64
}

// Window returns how far back the budget counts calls and extra attempts.
func (b *Budget) Window() time.Duration { return b.window }

// Call counts one call: the policy using the budget calls it once per
// Execute, whatever the number of attempts.
func (b *Budget) Call() {
	now := time.Now()
	b.mu.Lock()
	b.advance(now).calls++
	b.calls++
	b.mu.Unlock()
}

// TryExtra counts one extra attempt (a retry, a hedge) and reports true if
// the budget allows it; otherwise it reports false and counts nothing.
func (b *Budget) TryExtra() bool {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.advance(now)
	if float64(b.extra+1) > float64(b.minExtra)+b.ratio*float64(b.calls) {
		return false
	}
	bk.extra++
	b.extra++
	return true
}

// Stats are the counts in a [Budget]'s window.
type Stats struct {
	Calls int64 // calls counted by Call
	Extra int64 // extra attempts allowed by TryExtra
}

// Stats returns the counts in the window as of now.
func (b *Budget) Stats() Stats {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	return Stats{Calls: b.calls, Extra: b.extra}
}

// advance moves the window to now, dropping the buckets that left it, and
// returns the current bucket. b.mu must be held. A time before the newest
// bucket (clock readings that raced, or a clock from another
// testing/synctest bubble) counts in the newest bucket.
func (b *Budget) advance(now time.Time) *bucket {
	tick := int64(now.Sub(b.origin) / b.width)
	if tick > b.head {
		if tick-b.head >= numBuckets {
			b.buckets = [numBuckets]bucket{}
			b.calls, b.extra = 0, 0
		} else {
			for t := b.head + 1; t <= tick; t++ {
				old := &b.buckets[t%numBuckets]
				b.calls -= old.calls
				b.extra -= old.extra
				*old = bucket{}
			}
		}
		b.head = tick
	}
	return &b.buckets[b.head%numBuckets]
}
