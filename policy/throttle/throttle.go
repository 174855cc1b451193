package throttle

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
)

// Throttle is a policy that rejects calls, on the client side, with the
// probability that the dependency would refuse them. It is safe for
// concurrent use and takes no lock.
type Throttle struct {
	name       string
	k          float64
	bucketLen  int64 // ns
	isAccepted func(error) bool
	epoch      time.Time
	err        *Error
	rejected   *report.Counter

	// requests[i] and accepts[i] count the calls of bucket i, each packed
	// with the bucket's epoch (the index of its time slice) as
	// epoch<<countBits | count, so that a bucket is reset and counted in
	// one compare-and-swap.
	requests [buckets]atomic.Uint64
	accepts  [buckets]atomic.Uint64
}

const (
	countBits = 40
	countMask = 1<<countBits - 1
	epochMask = 1<<(64-countBits) - 1
)

// Name returns the policy's name.
func (t *Throttle) Name() string { return t.name }

// slice returns the index of the current time slice (bucketLen ns each).
func (t *Throttle) slice() uint64 {
	return uint64(max(int64(time.Since(t.epoch)), 0) / t.bucketLen)
}

// counts returns the requests and accepts of the window ending in slice s.
func (t *Throttle) counts(s uint64) (requests, accepts float64) {
	for i := range buckets {
		requests += float64(live(t.requests[i].Load(), s))
		accepts += float64(live(t.accepts[i].Load(), s))
	}
	return requests, accepts
}

// live returns the count of a bucket word if its epoch is within the
// window ending in slice s, else 0.
func live(w, s uint64) uint64 {
	if (s-w>>countBits)&epochMask < buckets {
		return w & countMask
	}
	return 0
}

// add adds delta to the count of bucket word c for slice s. A word holding
// an older slice is reset first (when adding); one holding a newer slice
// (the call outlived the ring's turn) is left alone.
func add(c *atomic.Uint64, s uint64, delta int64) {
	for {
		w := c.Load()
		var n uint64
		switch age := (s - w>>countBits) & epochMask; {
		case age == 0:
			n = uint64(int64(w) + delta)
		case age < epochMask/2 && delta > 0:
			n = (s&epochMask)<<countBits | uint64(delta)
		default:
			return
		}
		if c.CompareAndSwap(w, n) {
			return
		}
	}
}

// ratio is the probability of rejection given the counts.
func (t *Throttle) ratio(requests, accepts float64) float64 {
	return max(0, (requests-t.k*accepts)/(requests+1))
}

// RejectRatio returns the probability with which the next call is
// rejected.
func (t *Throttle) RejectRatio() float64 {
	return t.ratio(t.counts(t.slice()))
}

// Execute runs fn unless the throttle rejects the call, and counts it: a
// request, and an accept if IsAccepted(err). fn's error comes back
// unchanged; a rejected call gets an error matching ErrThrottled and
// policy.ErrRejected. A panic in fn counts as a request not accepted, and
// goes on.
func (t *Throttle) Execute(ctx context.Context, fn policy.Func) error {
	s := t.slice()
	p := t.ratio(t.counts(s))
	i := s % buckets
	add(&t.requests[i], s, 1)
	if p > 0 && rand.Float64() < p {
		t.rejected.Inc(ctx)
		return t.err
	}
	err := fn(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		add(&t.requests[i], s, -1) // the caller's doing: neither way
	case t.isAccepted(err):
		add(&t.accepts[i], s, 1)
	}
	return err
}

var _ policy.ModalPolicy = (*Throttle)(nil)

// AttemptMode returns policy.SequentialAttempts: the policy runs its
// function at most once, and never after Execute returns.
func (*Throttle) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }
