package breaker

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-go/palisade/internal/contract"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
)

// Breaker is a circuit breaker: a [policy.Policy] that stops calling a
// dependency while too many calls to it fail or are slow. It is safe for
// concurrent use. See the package documentation for how it decides.
type Breaker struct {
	// Read on every call; written only on transitions.
	ep     atomic.Pointer[episode]
	consec atomic.Int64 // failures in a row in closed state; written under mu

	settings
	ring      ring      // count window: slot of each outcome
	epoch     time.Time // the breaker's clock is time.Since(epoch), in ns
	timed     bool      // SlowCallDuration is set: calls are timed
	countFast bool      // count window, untimed: successes may skip the lock
	timeFast  bool      // time window, untimed: successes may skip the lock

	// Guarded by mu; next to the flags above, where they take no room of
	// their own.
	failed     bool // lastFailure is set
	delivering bool // a goroutine is calling OnStateChange

	errOpen     *Error // what every break's rejection wraps
	errHalfOpen *Error // rejection when every trial call is taken
	errIsolated *Error // rejection while isolated
	report      *report.Breaker

	// Calls counted without taking a window position (successes into a
	// clean count window, late successes into a retired one) and
	// rejections. No padding keeps them off ep's cache line: they are
	// written on every call only until goroutines contend, when they
	// spread over cache lines of their own (see counters), and a padded
	// breaker would cost a registry of idle ones 100 bytes apiece.
	counted counters

	mu sync.Mutex
	// Guarded by mu.
	opens       int          // consecutive openings, for BreakDurationFunc
	trials      int          // trial calls in flight, of any half-open period (HalfOpenCalls bounds it)
	lockedCalls int64        // calls that ran, counted under the lock (time window, trial calls)
	harvested   int64        // successes taken out of time-window buckets' words
	lastFailure int64        // breaker clock; valid when failed
	queue       []transition // transitions not yet given to OnStateChange
}

// episode is one stay in one state. Every transition installs a new
// episode, so a call holding the episode it was admitted under can tell,
// by comparing pointers, that its result is late and must be ignored.
type episode struct {
	state State
	since int64 // when the state was entered, breaker clock
	until int64 // Open: when the break ends, breaker clock
	err   error // Open: the rejection error, built once per break

	// The window of the closed period this episode is, or follows. A
	// window belongs to one closed period: closing starts a new one. A
	// count window is made by the first outcome it must hold (see
	// Breaker.makeCountWindow), so that a breaker that is never called, one of
	// thousands in a registry, costs no slots.
	cw atomic.Pointer[countWindow]
	tw *timeWindow

	// HalfOpen: trial calls of this period that succeeded; guarded by the
	// breaker's mu. (The trial calls in flight are counted across periods,
	// in Breaker.trials.)
	successes int
}

// following returns ep, which follows old (a transition that keeps the
// closed period's window: to Open, HalfOpen or Isolated), with old's window.
// Called under mu.
func (ep *episode) following(old *episode) *episode {
	ep.cw.Store(old.cw.Load())
	ep.tw = old.tw
	return ep
}

type transition struct{ from, to State }

// transitions collects the (at most two) transitions made while holding
// the lock, to be emitted after releasing it.
type transitions struct {
	n int
	t [2]transition
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// ignored reports whether the outcome of a call is ignored without asking
// Config.IsIgnored, as saying nothing about the dependency, so that it
// counts neither as a success nor as a failure: a
// rejection by a policy inside the breaker (the call never reached the
// dependency: a full bulkhead must not open the breaker, nor close a
// half-open one), or the caller's own cancellation.
func ignored(ctx context.Context, err error) bool {
	return errors.Is(err, policy.ErrRejected) ||
		ctx.Err() == context.Canceled && errors.Is(err, context.Canceled)
}

// ignore ends a call admitted under ep whose outcome is ignored: it counts
// in TotalCalls and gives back its half-open permit, late or not, and
// changes nothing else — no window slot, no trial success, no change to the
// consecutive failures.
func (b *Breaker) ignore(ep *episode) {
	if ep.state == Closed {
		b.counted.addCall()
		return
	}
	b.mu.Lock()
	b.lockedCalls++
	b.trials--
	b.mu.Unlock()
}

// isFailure is the default IsFailure: every error but the caller's
// cancellation.
func isFailure(err error) bool { return !errors.Is(err, context.Canceled) }

// now reads the breaker's clock: nanoseconds since the breaker was built,
// from the monotonic clock only.
func (b *Breaker) now() int64 {
	return max(int64(time.Since(b.epoch)), 0)
}

// at converts a reading of the breaker's clock to a time.Time.
func (b *Breaker) at(t int64) time.Time { return b.epoch.Add(time.Duration(t)) }

// newWindow gives ep, a closed episode, an empty window. A count window
// goes on the slots of old's (retired) window, which costs no allocation
// whatever its size; when old has none (no call recorded an outcome in its
// period), ep's is made by its first outcome (makeCountWindow). A time window
// is small (Buckets buckets) and made anew: late calls of the old one's
// period must find it frozen. Called under mu, or at construction with old
// nil.
func (b *Breaker) newWindow(ep, old *episode) {
	switch {
	case b.windowSize == 0:
		ep.tw = newTimeWindow()
	case old != nil:
		if w := old.cw.Load(); w != nil {
			ep.cw.Store(w.next())
		}
	}
}

// makeCountWindow returns the count window of ep, a closed episode, making
// it when no outcome was recorded in it yet; nil if ep is over without one
// (the call is late).
func (b *Breaker) makeCountWindow(ep *episode) *countWindow {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := ep.cw.Load()
	if w == nil && b.ep.Load() == ep {
		w = newCountWindow(b.windowSize, b.timed)
		ep.cw.Store(w)
	}
	return w
}

// Execute runs fn if the breaker allows it, records its outcome, and
// returns its error unchanged. A rejected call returns an error matching
// [ErrOpen] and [policy.ErrRejected] without running fn. If fn panics, the
// call is recorded as a failure, a trial call's permit is released, and the
// panic goes on with the same value.
func (b *Breaker) Execute(ctx context.Context, fn policy.Func) error {
	if fn == nil {
		panic(contract.NilFunc("breaker"))
	}
	ep := b.ep.Load()
	if ep.state != Closed || b.timed {
		if ep.state == Open && b.now() < ep.until {
			// Open, the break on: rejected here rather than down the
			// admission path, whose calls cost as much again.
			_, err := b.reject(ctx, ep.err)
			return err
		}
		return b.execute(ctx, fn)
	}
	// Closed, untimed: admitted with no clock read and no lock.
	finished := false
	defer func() {
		if !finished {
			b.done(ctx, ep, 0, nil, true)
		}
	}()
	err := fn(ctx)
	finished = true
	// done, by hand: Execute is the hot path.
	if err != nil {
		b.doneSlow(ctx, ep, 0, err, false)
	} else if !b.countedClean(ep) {
		b.record(ctx, ep, 0, outcomeOK, noHint)
	}
	return err
}

// execute is Execute for every state but closed, and for timed calls.
func (b *Breaker) execute(ctx context.Context, fn policy.Func) error {
	p, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			b.done(ctx, p.ep, p.start, nil, true)
		}
	}()
	err = fn(ctx)
	finished = true
	b.done(ctx, p.ep, p.start, err, false)
	return err
}

// Permit is a breaker's leave to run one call, from [Breaker.Allow] or
// [Breaker.AllowContext]. End it with Done, reporting the call's outcome,
// or with Release, if there is none to report. A Permit is a small value:
// taking one on a closed breaker allocates nothing.
type Permit struct {
	b     *Breaker
	ep    *episode        // the episode the call was admitted under
	ctx   context.Context // from AllowContext; nil from Allow
	start int64           // when it was admitted, breaker clock; only when timed
}

// Allow asks the breaker for leave to run one call, for code that cannot be
// wrapped in a function:
//
//	permit, err := b.Allow()
//	if err != nil {
//		return err // rejected: matches ErrOpen
//	}
//	err = call()
//	permit.Done(err)
//
// A half-open breaker's permit holds one of its HalfOpenCalls trial slots
// until Done or Release: every permit must be ended so, or the breaker may
// stay half-open. Transitions and rejections are reported without a span
// (the call has no context), and Done cannot tell the caller's cancellation
// from another: it ignores every error matching context.Canceled. Prefer
// AllowContext when the call has a context.
func (b *Breaker) Allow() (Permit, error) {
	return b.acquire(context.Background())
}

// AllowContext is Allow for a call with a context: a rejection, or a
// transition observed while admitting the call, is reported as an event on
// the span in ctx, as Execute does, and the Permit remembers ctx so that
// Done classifies the outcome exactly as Execute(ctx, …) would: an error
// matching context.Canceled counts neither way if ctx was cancelled, and
// is left to IsIgnored and IsFailure if not.
func (b *Breaker) AllowContext(ctx context.Context) (Permit, error) {
	p, err := b.acquire(ctx)
	if err == nil {
		p.ctx = ctx
	}
	return p, err
}

// Done records the outcome of the call, err being its error, exactly as
// Execute would (see AllowContext; a Permit from Allow ignores every error
// matching context.Canceled, having no context to tell whose cancellation
// it was). Done zeroes the Permit: calling Done or Release again on the
// same variable does nothing, as does calling them on a zero Permit or the
// one returned with a rejection. (A copy of a Permit taken before Done is
// not zeroed: end one copy only.)
func (p *Permit) Done(err error) {
	b := p.b
	if b == nil {
		return
	}
	ep, start, ctx := p.ep, p.start, p.ctx
	*p = Permit{}
	if ctx == nil { // from Allow
		if err != nil && errors.Is(err, context.Canceled) {
			b.ignore(ep)
			return
		}
		ctx = context.Background()
	}
	b.done(ctx, ep, start, err, false)
}

// Release ends the permit without an outcome, for a call that was not made
// or whose outcome must not count: it counts neither as a success nor as a
// failure, takes no place in the window and gives a half-open breaker's
// trial slot back, as an ignored outcome does (it is counted in
// Metrics.TotalCalls). Like Done, it zeroes the Permit: Release or Done
// after Release does nothing.
func (p *Permit) Release() {
	b := p.b
	if b == nil {
		return
	}
	ep := p.ep
	*p = Permit{}
	b.ignore(ep)
}

// acquire admits a call or rejects it.
func (b *Breaker) acquire(ctx context.Context) (Permit, error) {
	ep := b.ep.Load()
	if ep.state != Closed {
		return b.acquireSlow(ctx, ep)
	}
	p := Permit{b: b, ep: ep}
	if b.timed {
		p.start = b.now()
	}
	return p, nil
}

func (b *Breaker) acquireSlow(ctx context.Context, ep *episode) (Permit, error) {
	if ep.state == Isolated {
		return b.reject(ctx, b.errIsolated)
	}
	now := b.now()
	if ep.state == Open && now < ep.until {
		return b.reject(ctx, ep.err)
	}
	// Half-open, or open with the break over.
	gate := b.trialGate == nil || b.trialGate()
	var trs transitions
	var p Permit
	var err error
	b.mu.Lock()
	b.advance(now, &trs)
	switch ep = b.ep.Load(); ep.state {
	case Closed: // closed meanwhile
		p = Permit{b: b, ep: ep, start: now}
	case HalfOpen:
		// Trial calls of earlier half-open periods still running count too:
		// HalfOpenCalls bounds what the dependency sees at once.
		if gate && b.trials < b.halfOpenCalls {
			b.trials++
			p = Permit{b: b, ep: ep, start: now}
		} else {
			err = b.errHalfOpen
		}
	case Open: // opened again meanwhile
		err = ep.err
	default:
		err = b.errIsolated
	}
	if err != nil {
		b.counted.addRejected()
	}
	b.mu.Unlock()
	if err == nil && ep.state == HalfOpen {
		b.emitHolding(ctx, &trs, ep)
	} else {
		b.emit(ctx, &trs)
	}
	if err != nil {
		b.report.Rejected(ctx)
	}
	return p, err
}

// emitHolding is emit for a call holding a trial permit of ep: should
// OnStateChange panic, the permit is given back, unused, before the panic
// goes on, or the breaker would stay half-open with its permit taken.
func (b *Breaker) emitHolding(ctx context.Context, trs *transitions, ep *episode) {
	b.emitOr(ctx, trs, func() {
		b.mu.Lock()
		b.trials--
		b.mu.Unlock()
	})
}

func (b *Breaker) reject(ctx context.Context, err error) (Permit, error) {
	b.counted.addRejected()
	b.report.Rejected(ctx)
	return Permit{}, err
}

// done records the outcome of a call admitted under ep.
func (b *Breaker) done(ctx context.Context, ep *episode, start int64, err error, panicked bool) {
	if err != nil || panicked || !b.countedClean(ep) {
		b.doneSlow(ctx, ep, start, err, panicked)
	}
}

// countedClean counts a success of a call admitted under ep, if that is
// all there is to do: the breaker is closed and its count window, untimed,
// is clean (full of successes). It is the hot path, small enough to be
// inlined; it reports false for every other case, left to doneSlow.
func (b *Breaker) countedClean(ep *episode) bool {
	if b.countFast && ep.state == Closed {
		if w := ep.cw.Load(); w != nil && w.clean.Load() {
			b.counted.addCall()
			return true
		}
	}
	return false
}

// doneSlow records every outcome but a success into a clean count window.
func (b *Breaker) doneSlow(ctx context.Context, ep *episode, start int64, err error, panicked bool) {
	outcome := outcomeOK
	switch {
	case panicked:
		outcome |= outcomeFailed
	case err != nil:
		if ignored(ctx, err) {
			b.ignore(ep)
			return
		}
		ignore, fail, hint := false, true, int64(noHint)
		if !b.userClassifies {
			fail = isFailure(err) // the default, which cannot panic
		} else {
			failed := func() { b.record(ctx, ep, start, outcomeOK|outcomeFailed, noHint) }
			if p := callback(func() { ignore, fail, hint = b.classify(err) }, failed); p.ok {
				// A panicking classifier (or RetryAfter method) fails the
				// call, which releases a trial permit, and its panic goes on.
				failed()
				p.raise()
			}
		}
		if ignore {
			b.ignore(ep)
			return
		}
		if fail {
			outcome |= outcomeFailed
		}
		b.record(ctx, ep, start, outcome, hint)
		return
	}
	b.record(ctx, ep, start, outcome, noHint)
}

// noHint is the hint of a failure that carries none, or of a breaker that
// does not take its breaks from hints.
const noHint = -1

// classify asks the user's IsIgnored, then IsFailure, about a non-nil error
// that no built-in rule ignores, and, for a failure of a breaker with
// BreakFromRetryAfter, the error's hint (ns; noHint if it has none). The
// hint is read here, outside the lock: it runs the error's RetryAfter.
func (b *Breaker) classify(err error) (ignore, fail bool, hint int64) {
	if b.isIgnored != nil && b.isIgnored(err) {
		return true, false, noHint
	}
	fail, hint = b.isFailure(err), noHint
	if fail && b.breakFromHint {
		if d, ok := policy.RetryAfter(err); ok {
			hint = int64(min(max(d, 0), b.maxHintBreak))
		}
	}
	return false, fail, hint
}

// record records a classified outcome of a call admitted under ep (the
// slow bit is added here, for a timed call). The fast paths record a
// closed-state success without the lock: in a count window, when the slot
// it is given already holds a success; in a time window, when its bucket is
// live. Neither changes the state, so neither checks for lateness: a late
// success finds a frozen time window, and in a count window either a
// retired window, which gives it no position, or (its period over but the
// window not yet replaced) a window that records nothing more.
//
// hint, if not noHint, is the failure's own break (BreakFromRetryAfter).
func (b *Breaker) record(ctx context.Context, ep *episode, start int64, outcome uint32, hint int64) {
	now, dur := int64(-1), int64(0)
	if b.timed {
		now = b.now()
		dur = now - start
		if dur > b.slowCall {
			outcome |= outcomeSlow
		}
	}
	switch {
	case ep.state != Closed:
		b.recordTrial(ctx, ep, outcome, now, hint)
	case b.windowSize > 0:
		w := ep.cw.Load()
		if w == nil {
			w = b.makeCountWindow(ep)
		}
		var pos uint64
		live := w != nil
		if live {
			pos, live = w.take()
		}
		if !live {
			if outcome == outcomeOK {
				b.counted.addCall() // late, its window retired or never made
				return
			}
		} else if outcome == outcomeOK && b.countFast && w.holds(w.slots[b.ring.index(pos)].Load(), outcomeOK) && b.consec.Load() == 0 {
			return
		}
		b.recordCount(ctx, ep, b.ring.index(pos), live, outcome, now, dur, hint)
	default:
		if now < 0 {
			now = b.now()
		}
		if outcome == outcomeOK && b.timeFast && b.consec.Load() == 0 && ep.tw.tryAdd(now/b.bucketWidth) {
			return
		}
		b.recordTime(ctx, ep, outcome, now, dur, hint)
	}
}

// recordCount records a closed-state outcome in slot i of a count window.
// A late call whose window was retired has no slot (live is false): it is
// only counted.
func (b *Breaker) recordCount(ctx context.Context, ep *episode, i uint32, live bool, outcome uint32, now, dur, hint int64) {
	failed := outcome&outcomeFailed != 0
	if failed && now < 0 {
		now = b.now()
	}
	var trs transitions
	var p recovered
	b.mu.Lock()
	if failed {
		b.lastFailure, b.failed = now, true
	}
	if !live {
		b.lockedCalls++
	} else if b.ep.Load() == ep {
		w := ep.cw.Load()
		w.record(i, outcome, dur)
		if b.countFast {
			w.clean.Store(w.calls == int64(b.windowSize) && w.failures == 0)
		}
		if b.tally(outcome) && b.trips(w.calls, w.failures, w.slow) {
			p = b.open(now, hint, &trs)
		}
	}
	b.mu.Unlock()
	p.raise()
	b.emit(ctx, &trs)
}

// recordTime records a closed-state outcome in a time window.
func (b *Breaker) recordTime(ctx context.Context, ep *episode, outcome uint32, now, dur, hint int64) {
	var trs transitions
	var p recovered
	b.mu.Lock()
	b.lockedCalls++
	if outcome&outcomeFailed != 0 {
		b.lastFailure, b.failed = now, true
	}
	if b.ep.Load() == ep {
		idx := now / b.bucketWidth
		bk, recycled := ep.tw.bucket(idx)
		b.harvested += recycled
		if bk != nil {
			bk.add(outcome, dur)
		}
		if b.tally(outcome) {
			calls, failures, slow, _ := ep.tw.sums(idx)
			if b.trips(calls, failures, slow) {
				p = b.open(now, hint, &trs)
			}
		}
	}
	b.mu.Unlock()
	p.raise()
	b.emit(ctx, &trs)
}

// tally counts failures in a row and reports whether outcome calls for a
// decision: a failure or a slow call. Called under mu.
func (b *Breaker) tally(outcome uint32) bool {
	if outcome&outcomeFailed != 0 {
		b.consec.Store(b.consec.Load() + 1)
		return true
	}
	if b.consec.Load() != 0 {
		b.consec.Store(0)
	}
	return outcome&outcomeSlow != 0
}

// trips reports whether a closed breaker whose window holds these counts
// must open. Called under mu.
func (b *Breaker) trips(calls, failures, slow int64) bool {
	if b.consecutive > 0 && b.consec.Load() >= b.consecutive {
		return true
	}
	if calls < b.minimumThroughput || calls == 0 {
		return false
	}
	// Divide rather than multiply the threshold: the quotient is correctly
	// rounded, so a ratio equal to the threshold is never missed.
	return float64(failures)/float64(calls) >= b.failureRatio ||
		b.timed && float64(slow)/float64(calls) >= b.slowCallRatio
}

// recordTrial records the outcome of a call admitted in half-open: a slow
// trial call fails like a failed one. A late trial call (of an earlier
// half-open period) frees its place among the trial calls in flight, and
// changes nothing else.
func (b *Breaker) recordTrial(ctx context.Context, ep *episode, outcome uint32, now, hint int64) {
	if now < 0 {
		now = b.now()
	}
	var trs transitions
	var p recovered
	b.mu.Lock()
	b.lockedCalls++
	if outcome&outcomeFailed != 0 {
		b.lastFailure, b.failed = now, true
	}
	b.trials--
	if b.ep.Load() == ep {
		if outcome&(outcomeFailed|outcomeSlow) != 0 {
			p = b.open(now, hint, &trs)
		} else if ep.successes++; ep.successes >= b.successThreshold {
			b.close(now, &trs)
		}
	}
	b.mu.Unlock()
	p.raise()
	b.emit(ctx, &trs)
}

// open starts a break: hint long, if the opening failure gave one
// (BreakFromRetryAfter), else BreakDuration or BreakDurationFunc's. Called
// under mu. Should BreakDurationFunc panic, nothing changes — no break, no
// opening counted — and open returns the panic, for the caller to raise
// again once it has released the lock.
func (b *Breaker) open(now, hint int64, trs *transitions) (p recovered) {
	opens := b.opens + 1
	d := b.breakDuration
	if hint != noHint {
		d = time.Duration(hint)
	} else if b.breakDurationFunc != nil {
		if p = callback(func() { d = b.breakDurationFunc(opens) }, b.mu.Unlock); p.ok {
			return p
		}
		d = max(d, 0)
	}
	b.opens = opens
	until := now + int64(d)
	if until < now {
		until = math.MaxInt64
	}
	old := b.ep.Load()
	ep := &episode{state: Open, since: now, until: until, err: &openError{err: b.errOpen, b: b, until: until}}
	b.enter(old, ep.following(old), trs)
	return p
}

// close closes the breaker with a fresh window. Called under mu.
func (b *Breaker) close(now int64, trs *transitions) {
	b.opens = 0
	b.consec.Store(0)
	old := b.ep.Load()
	since := now
	if old.state == Closed {
		since = old.since
	}
	if w := old.cw.Load(); w != nil {
		b.harvested += w.retire()
	}
	ep := &episode{state: Closed, since: since}
	b.newWindow(ep, old)
	b.enter(old, ep, trs)
}

// advance makes an open breaker whose break is over half-open: the
// transition is observed, and emitted, by whoever first notices it. Called
// under mu.
func (b *Breaker) advance(now int64, trs *transitions) {
	if ep := b.ep.Load(); ep.state == Open && now >= ep.until {
		b.enter(ep, (&episode{state: HalfOpen, since: ep.until}).following(ep), trs)
	}
}

// enter installs ep, replacing old. Called under mu.
func (b *Breaker) enter(old, ep *episode, trs *transitions) {
	if old.state == Closed && old.tw != nil {
		b.harvested += old.tw.freeze()
	}
	b.ep.Store(ep)
	if old.state == ep.state {
		return
	}
	t := transition{from: old.state, to: ep.state}
	trs.t[trs.n] = t
	trs.n++
	if b.onStateChange != nil {
		b.queue = append(b.queue, t)
	}
}

// emit reports the transitions made under the lock, after releasing it:
// telemetry with ctx, then OnStateChange. Should OnStateChange panic, its
// panic goes on once the breaker is consistent again.
func (b *Breaker) emit(ctx context.Context, trs *transitions) {
	b.emitOr(ctx, trs, nil)
}

// emitOr is emit for a caller that holds something to give back, with
// abort, should OnStateChange not return (a panic or runtime.Goexit).
func (b *Breaker) emitOr(ctx context.Context, trs *transitions, abort func()) {
	if trs.n == 0 {
		return
	}
	for _, t := range trs.t[:trs.n] {
		b.report.StateChanged(ctx, int(t.from), int(t.to))
	}
	if b.onStateChange != nil {
		b.deliver(abort)
	}
}

// deliver calls OnStateChange for the queued transitions, in order and one
// at a time, unless another goroutine is already doing so (it will deliver
// them too). The lock is not held during the calls, so OnStateChange may
// call the breaker, and the transitions it causes are delivered after it
// returns. If OnStateChange panics, the delivery stops (the next
// transition starts a new one), abort runs, and the panic goes on.
func (b *Breaker) deliver(abort func()) {
	b.mu.Lock()
	if b.delivering {
		b.mu.Unlock()
		return
	}
	b.delivering = true
	stop := func() {
		b.mu.Lock()
		b.delivering = false
		b.mu.Unlock()
		if abort != nil {
			abort()
		}
	}
	for len(b.queue) > 0 {
		t := b.queue[0]
		b.queue = b.queue[1:]
		b.mu.Unlock()
		if p := callback(func() { b.onStateChange(t.from, t.to) }, stop); p.ok {
			stop()
			p.raise()
		}
		b.mu.Lock()
	}
	b.queue = nil
	b.delivering = false
	b.mu.Unlock()
}

// recovered is what a user's callback panicked with, carried out of
// callback so that the caller can put its state right (release its lock,
// count the failure, give a trial permit back) before raising it again.
type recovered struct {
	value any
	ok    bool // the callback panicked
}

// raise panics again with the recovered value, if there is one.
func (p recovered) raise() {
	if p.ok {
		panic(p.value)
	}
}

// callback calls f, which calls a user's callback (BreakDurationFunc,
// IsIgnored, IsFailure, OnStateChange), and returns the value it panicked
// with instead of unwinding the caller. The one exit that cannot be
// stopped, runtime.Goexit (t.FailNow in a test), runs goexit first, which
// must leave the breaker as a panic would (the caller cannot).
func callback(f func(), goexit func()) (p recovered) {
	returned := false
	defer func() {
		if returned {
			return
		}
		if p.value = recover(); p.value != nil {
			p.ok = true
			return
		}
		goexit()
	}()
	f()
	returned = true
	return p
}

// State returns the breaker's state. An open breaker whose break is over
// reports HalfOpen (the transition is emitted now if no call observed it
// first).
func (b *Breaker) State() State {
	ep := b.ep.Load()
	if ep.state != Open {
		return ep.state
	}
	now := b.now()
	if now < ep.until {
		return Open
	}
	var trs transitions
	b.mu.Lock()
	b.advance(now, &trs)
	s := b.ep.Load().state
	b.mu.Unlock()
	b.emit(context.Background(), &trs)
	return s
}

// Isolate forces the breaker into Isolated: it rejects every call, with an
// error matching ErrOpen but no RetryAfter, until Reset. Calls admitted
// before are ignored when they end.
func (b *Breaker) Isolate() {
	now := b.now()
	var trs transitions
	b.mu.Lock()
	b.advance(now, &trs)
	if old := b.ep.Load(); old.state != Isolated {
		b.enter(old, (&episode{state: Isolated, since: now}).following(old), &trs)
	}
	b.mu.Unlock()
	b.emit(context.Background(), &trs)
}

// Reset forces the breaker into Closed with an empty window, failures in a
// row and the count of consecutive openings cleared, whatever its state.
// Calls admitted before are ignored when they end, but trial calls still
// running go on counting against HalfOpenCalls until then. Lifetime counts
// (TotalCalls, Rejected, LastFailure) are kept.
func (b *Breaker) Reset() {
	now := b.now()
	var trs transitions
	b.mu.Lock()
	b.advance(now, &trs)
	b.close(now, &trs)
	b.mu.Unlock()
	b.emit(context.Background(), &trs)
}

var _ policy.ModalPolicy = (*Breaker)(nil)

// AttemptMode returns policy.SequentialAttempts: the policy runs its
// function at most once at a time, and never after Execute returns.
func (*Breaker) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }
