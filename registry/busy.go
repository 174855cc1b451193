package registry

import (
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
)

// DefaultBusy is the default Config.Busy. It reports whether any policy of
// p, looking into nested pipelines, holds protection that evicting p would
// lose:
//
//   - a policy with a method State() breaker.State (a *breaker.Breaker)
//     whose state is not Closed: open, half-open (the break has passed but
//     no trial call has closed it yet) or isolated by an operator;
//   - a policy with a method InFlight() int or Queued() int (a
//     *bulkhead.Bulkhead) that reports calls running or waiting: a new
//     entry would let as many again run at once;
//   - a policy with a method Busy() bool that reports true, for policies
//     of your own.
func DefaultBusy(p *policy.Pipeline) bool {
	for _, pol := range p.Policies() {
		if busy(pol) {
			return true
		}
	}
	return false
}

func busy(pol policy.Policy) bool {
	if p, ok := pol.(*policy.Pipeline); ok {
		return DefaultBusy(p)
	}
	if s, ok := pol.(interface{ State() breaker.State }); ok && s.State() != breaker.Closed {
		return true
	}
	if s, ok := pol.(interface{ InFlight() int }); ok && s.InFlight() > 0 {
		return true
	}
	if s, ok := pol.(interface{ Queued() int }); ok && s.Queued() > 0 {
		return true
	}
	if s, ok := pol.(interface{ Busy() bool }); ok && s.Busy() {
		return true
	}
	return false
}
