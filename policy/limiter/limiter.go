package limiter

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-go/palisade/internal/gate"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
)

// Limiter is a policy that limits how many calls run at once, with a limit
// that follows the dependency's latency. It is safe for concurrent use.
type Limiter struct {
	// Read-only after New.
	name       string
	algorithm  Algorithm
	minLimit   float64
	maxLimit   float64
	window     int64 // ns
	minSamples int64
	maxHealthy int64 // ns; 0: no guard
	probeEvery int64 // ns
	probeLimit int
	smoothing  float64
	tolerance  float64
	backoff    float64
	isDropped  func(error) bool
	sampleAll  bool        // time every call (tests)
	probing    atomic.Bool // the window measures the no-load latency; rarely written
	epoch      time.Time
	errFull    *Error
	errWait    *Error
	report     *report.Limiter

	gate gate.Gate

	// The current window's samples, added without a lock by the calls
	// that end in it.
	winStart    atomic.Int64 // ns of the limiter's clock
	sumRTT      atomic.Int64 // ns, over count
	count       atomic.Int64 // calls measured
	minRTT      atomic.Int64 // ns; MaxInt64 when none
	drops       atomic.Int64
	maxInFlight atomic.Int64
	rejected    atomic.Int64 // calls refused

	// The algorithm's state, guarded by mu, taken (with TryLock) by the
	// one call that closes a window.
	mu          sync.Mutex
	estimate    float64 // the limit, before rounding down
	reported    int     // the limit last reported in a span event
	noLoad      float64 // ns: latency at ProbeLimit (Vegas, Gradient2)
	longRTT     float64 // ns: long-term latency (Gradient2)
	nextProbe   int64   // ns of the limiter's clock
	beforeProbe float64 // the estimate to return to after a probe
}

// Name returns the policy's name.
func (l *Limiter) Name() string { return l.name }

// Limit returns how many calls may run at once now.
func (l *Limiter) Limit() int { return int(l.gate.Limit()) }

// InFlight returns how many slots are taken: calls running, and calls just
// handed a slot that have yet to start.
func (l *Limiter) InFlight() int { return l.gate.InFlight() }

// Queued returns how many calls are waiting for a slot.
func (l *Limiter) Queued() int { return l.gate.Queued() }

func (l *Limiter) observe() (limit, inFlight, queued int) {
	return l.Limit(), l.InFlight(), l.Queued()
}

// now reads the limiter's clock: nanoseconds since New, monotonic.
func (l *Limiter) now() int64 { return max(int64(time.Since(l.epoch)), 0) }

// Execute runs fn once it holds a slot, measures it, and frees the slot
// when fn returns or panics (the panic goes on, unmeasured). fn's error
// comes back unchanged. When no slot is free and none comes in time, fn
// does not run and Execute returns an error matching ErrLimited, or, if
// ctx ended while the call was waiting, an error matching ctx.Err() and
// policy.ErrRejected.
func (l *Limiter) Execute(ctx context.Context, fn policy.Func) error {
	// One call in 8 is timed, and every call that had to wait or that
	// runs during a probe: two clock readings and a few shared atomics
	// cost more than the rest of the call, and a window of a loaded
	// dependency has plenty of calls.
	ok, sampled := l.gate.TryAcquire()
	if !ok {
		if err := l.acquireSlow(ctx); err != nil {
			return err
		}
		sampled = true
	}
	var start int64 = -1
	if sampled || l.sampleAll || l.probing.Load() {
		start = l.now()
	}
	defer l.gate.Release() // after record: the call is still in flight there
	err := fn(ctx)
	l.record(ctx, start, err) // not reached on a panic: unmeasured
	return err
}

func (l *Limiter) acquireSlow(ctx context.Context) error {
	err := l.gate.AcquireSlow(ctx, l.waitEnded, l.errFull, l.errWait)
	if err == l.errFull || err == l.errWait {
		l.rejected.Add(1)
		l.report.Rejected(ctx)
	}
	return err
}

func (l *Limiter) waitEnded(err error, waited time.Duration) error {
	return &Error{Policy: l.name, Waited: waited, Err: err}
}

// record adds the outcome of a call that started at start to the window,
// and closes the window when it is due.
func (l *Limiter) record(ctx context.Context, start int64, err error) {
	if start < 0 {
		// Untimed: only a drop counts, which needs no clock (but
		// MaxHealthyLatency, which does, applies to timed calls only).
		if err != nil && ctx.Err() == nil && !errors.Is(err, policy.ErrRejected) && l.isDropped(err) {
			l.drops.Add(1)
		}
		return
	}
	if err != nil && (ctx.Err() != nil || errors.Is(err, policy.ErrRejected)) {
		// The caller gave up (its latency says nothing of the
		// dependency's), or an inner policy refused the call (its near-zero
		// latency would read as a fast dependency).
		return
	}
	now := l.now()
	rtt := now - start
	switch {
	case err != nil && l.isDropped(err), l.maxHealthy > 0 && rtt > l.maxHealthy:
		l.drops.Add(1)
	case err != nil:
		return // not a sign either way
	case l.probing.Load() && start < l.winStart.Load():
		// Started before the probe, at the higher limit: not a no-load
		// latency.
	default:
		l.sumRTT.Add(rtt)
		l.count.Add(1)
		for m := l.minRTT.Load(); rtt < m && !l.minRTT.CompareAndSwap(m, rtt); m = l.minRTT.Load() {
		}
	}
	if f := int64(l.gate.InFlight()); f > l.maxInFlight.Load() {
		l.maxInFlight.Store(f) // a lost race under-reads by one window's peak, harmlessly
	}
	if now-l.winStart.Load() >= l.window && (l.count.Load() >= l.minSamples || l.drops.Load() > 0) {
		l.closeWindow(ctx, now)
	}
}

// sample is what one window saw.
type sample struct {
	avgRTT      float64 // ns; 0 without measured calls
	count       int64
	drops       int64
	maxInFlight int64
	saturated   bool // calls were refused or queued: the limit was binding
}

// closeWindow ends the window and moves the limit; one call does it, the
// others go on.
func (l *Limiter) closeWindow(ctx context.Context, now int64) {
	if !l.mu.TryLock() {
		return
	}
	defer l.mu.Unlock()
	if now-l.winStart.Load() < l.window {
		return // another call closed it meanwhile
	}
	l.winStart.Store(now)
	s := sample{
		count:       l.count.Swap(0),
		drops:       l.drops.Swap(0),
		maxInFlight: l.maxInFlight.Swap(0),
	}
	sum := l.sumRTT.Swap(0)
	l.minRTT.Store(math.MaxInt64)
	s.saturated = l.rejected.Swap(0) > 0 || l.gate.Queued() > 0 || s.maxInFlight >= l.gate.Limit()
	if s.count > 0 {
		s.avgRTT = float64(sum) / float64(s.count)
	}

	if l.probing.Load() {
		// The probe window ends: its latency is the no-load one.
		l.probing.Store(false)
		if s.count > 0 {
			// Up or down: the probe is how the baseline may rise.
			l.noLoad = s.avgRTT
			l.longRTT = s.avgRTT
		}
		l.nextProbe = now + l.probeEvery
		l.estimate = l.beforeProbe
		l.gate.SetLimit(int64(l.estimate))
		return
	}
	if l.algorithm != AIMD && now >= l.nextProbe {
		// Hold the limit at ProbeLimit for the next window, to measure
		// the latency without queueing. The estimate goes on from where
		// it was.
		l.beforeProbe = l.estimate
		l.probing.Store(true)
		l.gate.SetLimit(int64(min(float64(l.probeLimit), l.estimate)))
		return
	}

	var next float64
	switch l.algorithm {
	case Vegas:
		next = l.vegas(s)
	case Gradient2:
		next = l.gradient2(s)
	default:
		next = l.aimd(s)
	}
	l.estimate = min(max(next, l.minLimit), l.maxLimit)
	limit := int(l.estimate)
	l.gate.SetLimit(int64(limit))
	if d := limit - l.reported; d*5 >= l.reported || -d*5 >= l.reported {
		// A change of 20% or more since the last event: worth a trace
		// event (smaller steps would be one per window).
		l.report.LimitChanged(ctx, l.reported, limit)
		l.reported = limit
	}
}

// log10 is log10(limit), at least 1, as Netflix's Log10RootFunction.
func log10(limit float64) float64 { return max(1, math.Log10(limit)) }

// vegas moves the limit by the queue estimated at the dependency:
// limit × (1 − noLoad/latency).
func (l *Limiter) vegas(s sample) float64 {
	limit := l.estimate
	if s.drops > 0 {
		return limit - log10(limit)
	}
	if s.count == 0 {
		return limit
	}
	if s.avgRTT < l.noLoad || l.noLoad == 0 {
		// Faster than the baseline: the baseline may go down between
		// probes, never up (so that a long overload does not become the
		// new normal).
		l.noLoad = s.avgRTT
		return limit
	}
	if float64(s.maxInFlight)*2 < limit {
		// The limit is not in use: nothing learnt of it. Shrinking it on
		// latency would only refuse the next burst: our few calls are
		// not what makes the dependency slow (a limit that binds again
		// is judged again).
		return limit
	}
	queue := math.Ceil(limit * (1 - l.noLoad/s.avgRTT))
	served := limit * l.noLoad / s.avgRTT // the concurrency served without a queue
	lg := log10(limit)
	// The band alpha..beta of queue to hold, capped by what the dependency
	// serves at once: a queue of 6 in front of 4 workers is 1.5 service
	// times of waiting, which the band of a large dependency must not
	// impose on a small one.
	alpha := min(VegasAlpha*lg, max(1, served/2))
	beta := min(VegasBeta*lg, max(2, served))
	switch {
	case queue <= lg:
		return limit + VegasBeta*lg
	case queue < alpha:
		return limit + lg
	case queue > beta:
		// Netflix's Vegas steps down by log10(limit) per window, which
		// takes seconds after the capacity drops; here the step is at
		// least down to what the dependency serves without a queue
		// (limit × noLoad/latency) plus a queue in the middle of the
		// alpha..beta band (landing at its top, as single steps do, would
		// leave the most queueing the band allows) — but at most by
		// half, so that one window's latency spike (a pause on the
		// client's machine) does not throw the limit to the floor.
		return min(limit-lg, max(limit/2, served+(alpha+beta)/2))
	}
	return limit
}

// gradient2 scales the limit by tolerance × long-term / short-term
// latency, at least by one half, plus a small queue, smoothed.
func (l *Limiter) gradient2(s sample) float64 {
	limit := l.estimate
	if s.count == 0 && s.drops == 0 {
		return limit
	}
	gradient := 0.5 // a window with drops shrinks as much as allowed
	if s.drops == 0 {
		short := s.avgRTT
		if l.longRTT == 0 {
			l.longRTT = short
		}
		// The long-term latency follows the short-term one, over about
		// 100 windows, but not upward while the limit is binding: a long
		// overload must not become the new normal (failsafe-go#127).
		if short < l.longRTT || !s.saturated {
			l.longRTT += (short - l.longRTT) * 2 / 101
		}
		if l.longRTT/short > 2 {
			l.longRTT *= 0.95 // latency recovered: catch up quickly
		}
		if float64(s.maxInFlight)*2 < limit {
			return limit
		}
		gradient = max(0.5, min(1, l.tolerance*l.longRTT/short))
	}
	next := limit*gradient + Gradient2Queue
	return limit*(1-l.smoothing) + next*l.smoothing
}

// aimd adds 1 per window while the limit is in use and multiplies it by
// Backoff after a window with a drop.
func (l *Limiter) aimd(s sample) float64 {
	limit := l.estimate
	if s.drops > 0 {
		return limit * l.backoff
	}
	if float64(s.maxInFlight)*2 >= limit {
		return limit + 1
	}
	return limit
}

var _ policy.ModalPolicy = (*Limiter)(nil)

// AttemptMode returns policy.SequentialAttempts: the policy runs its
// function at most once, and never after Execute returns.
func (*Limiter) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }
