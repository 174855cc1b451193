package report

import (
	"context"

	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/telemetry"
)

// The error.type values of palisade.store.errors.
const (
	StoreTimeout     = "store_timeout"     // the store did not answer in time
	StoreUnavailable = "store_unavailable" // any other failure to reach or use the store
)

// Store reports the failures of a policy to use the store through which it
// shares its state with other processes (Redis): palisade.store.errors.
type Store struct {
	timeouts, unavailable *Counter
}

// NewStore returns the store reporter of the policy of type policyType
// called name, or nil when t is disabled. Both series (error.type
// store_timeout and store_unavailable) start at 0.
func NewStore(t *telemetry.Telemetry, policyType, name string) *Store {
	if t.IsDisabled() {
		return nil
	}
	m := t.Meter()
	counter := func(errorType string) *Counter {
		return NewCounter(m, semconv.StoreErrors, "{error}",
			"Failed or timed-out calls to the store that shares a policy's state across processes.", "",
			semconv.PolicyTypeKey.String(policyType),
			semconv.PolicyNameKey.String(name),
			semconv.ErrorTypeKey.String(errorType))
	}
	return &Store{timeouts: counter(StoreTimeout), unavailable: counter(StoreUnavailable)}
}

// Failed reports one failed store call; timedOut says whether it failed by
// running out of time.
func (r *Store) Failed(timedOut bool) {
	if r == nil {
		return
	}
	if timedOut {
		r.timeouts.Inc(context.Background())
	} else {
		r.unavailable.Inc(context.Background())
	}
}
