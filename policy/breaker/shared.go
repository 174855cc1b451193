package breaker

import (
	"context"
	"math"
	"time"
)

// This file holds what lets a breaker's state be shared with the breakers
// of other processes (the replicas of a service), as the module
// github.com/palisade-go/palisade/redis does: a way in for an opening
// decided elsewhere (OpenUntil), a way out for local openings
// (Config.OnStateChange and Metrics.OpenUntil), and a gate on half-open
// admissions (Config.TrialGate) so that trial calls can be limited across
// the fleet. Nothing here runs on the path of a call through a closed
// breaker.

// OpenUntil opens the breaker until the instant until, as though it had
// opened by itself with that break: for an opening decided elsewhere, such
// as by another replica of the service. It does nothing, and reports
// false, if until is not in the future, if the breaker is isolated, or if
// it is already open until until or later; an open breaker whose break
// ends earlier has it extended. Otherwise it reports true: a closed or
// half-open breaker opens, with the transition reported (telemetry and
// OnStateChange) as any other, counting as a consecutive opening for
// BreakDurationFunc; calls admitted before are ignored when they end.
//
// until is read on the wall clock when it carries no monotonic reading (as
// a time built from a Unix timestamp does), and converted then to the
// breaker's monotonic clock: the break is as long as until.Sub(time.Now())
// at the time of the call.
func (b *Breaker) OpenUntil(until time.Time) bool {
	now := b.now()
	d := until.Sub(b.epoch) // saturates: never overflows
	u := int64(d)
	if d == math.MaxInt64 {
		u = math.MaxInt64
	}
	if u <= now {
		return false
	}
	var trs transitions
	opened := false
	b.mu.Lock()
	b.advance(now, &trs)
	old := b.ep.Load()
	switch {
	case old.state == Isolated:
	case old.state == Open && old.until >= u:
	default:
		since := now
		if old.state == Open {
			since = old.since // the same break, made longer
		} else {
			b.opens++
		}
		ep := &episode{state: Open, since: since, until: u, err: &openError{b: b, until: u}}
		b.enter(old, ep.following(old), &trs)
		opened = true
	}
	b.mu.Unlock()
	b.emit(context.Background(), &trs)
	return opened
}
