package breaker

import (
	"context"
	"time"
)

// Metrics is a snapshot of a breaker, from [Breaker.Metrics].
type Metrics struct {
	// State is the state, as State would report it.
	State State
	// Calls, Failures and SlowCalls count the outcomes in the window: that
	// of the current closed period, or of the last one while open,
	// half-open or isolated (trial calls do not enter it). A time window
	// counts only the outcomes not yet forgotten.
	Calls, Failures, SlowCalls int
	// FailureRatio is Failures/Calls, and SlowCallRatio SlowCalls/Calls;
	// 0 when the window is empty.
	FailureRatio, SlowCallRatio float64
	// ConsecutiveFailures counts the failures in a row in closed state.
	ConsecutiveFailures int
	// TotalCalls counts the calls that ran fn (or got a Permit and ended
	// it, with Done or Release), ever, whatever their outcome: ignored and
	// late ones included.
	TotalCalls int64
	// Rejected counts the calls rejected, ever.
	Rejected int64
	// AverageDuration is the mean duration of the calls in the window, when
	// the breaker times calls (SlowCallDuration is set); else 0.
	AverageDuration time.Duration
	// LastFailure is when a call last failed (a late one included); zero
	// if none has.
	LastFailure time.Time
	// StateSince is when the breaker entered its state; for a half-open
	// breaker, the end of the break.
	StateSince time.Time
	// OpenUntil is when the break of an open breaker ends; zero in any
	// other state.
	OpenUntil time.Time
}

// Metrics returns a snapshot of the breaker. Like State, it observes the
// end of a break.
func (b *Breaker) Metrics() Metrics {
	now := b.now()
	var trs transitions
	b.mu.Lock()
	b.advance(now, &trs)
	ep := b.ep.Load()
	counted, rejected := b.counted.totals()
	m := Metrics{
		State:               ep.state,
		StateSince:          b.at(ep.since),
		ConsecutiveFailures: int(b.consec.Load()),
		TotalCalls:          counted + b.lockedCalls + b.harvested,
		Rejected:            rejected,
	}
	if b.failed {
		m.LastFailure = b.at(b.lastFailure)
	}
	if ep.state == Open {
		m.OpenUntil = b.at(ep.until)
	}
	var calls, failures, slow, durSum int64
	if b.windowSize > 0 {
		if w := ep.cw.Load(); w != nil {
			calls, failures, slow, durSum = w.calls, w.failures, w.slow, w.durSum
			m.TotalCalls += int64(w.pos.Load() &^ retired)
		}
	} else {
		calls, failures, slow, durSum = ep.tw.sums(now / b.bucketWidth)
		m.TotalCalls += ep.tw.live()
	}
	b.mu.Unlock()
	b.emit(context.Background(), &trs)

	m.Calls, m.Failures, m.SlowCalls = int(calls), int(failures), int(slow)
	if calls > 0 {
		m.FailureRatio = float64(failures) / float64(calls)
		m.SlowCallRatio = float64(slow) / float64(calls)
		if b.timed {
			m.AverageDuration = time.Duration(durSum / calls)
		}
	}
	return m
}

// observe gives the telemetry reporter, at each metric collection, the
// state and the window's failure ratio. It runs on the collecting
// goroutine: it reports an open breaker whose break is over as half-open
// but, unlike State, makes no transition, so it emits nothing and never
// calls OnStateChange.
func (b *Breaker) observe() (state int, failureRatio float64) {
	now := b.now()
	b.mu.Lock()
	ep := b.ep.Load()
	s := ep.state
	if s == Open && now >= ep.until {
		s = HalfOpen
	}
	var calls, failures int64
	if b.windowSize > 0 {
		if w := ep.cw.Load(); w != nil {
			calls, failures = w.calls, w.failures
		}
	} else {
		calls, failures, _, _ = ep.tw.sums(now / b.bucketWidth)
	}
	b.mu.Unlock()
	if calls > 0 {
		failureRatio = float64(failures) / float64(calls)
	}
	return int(s), failureRatio
}
