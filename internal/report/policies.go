package report

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/telemetry"
)

// Timeout reports one timeout policy: palisade.timeout.timeouts and the
// palisade.timeout event.
type Timeout struct {
	timeouts *Counter
}

// NewTimeout returns the reporter of the timeout policy called name, or nil
// when t is disabled.
func NewTimeout(t *telemetry.Telemetry, name string) *Timeout {
	if t.IsDisabled() {
		return nil
	}
	return &Timeout{timeouts: NewCounter(t.Meter(), semconv.TimeoutTimeouts, "{timeout}",
		"Calls whose deadline, set by a timeout policy, passed.",
		semconv.TimeoutEvent, semconv.PolicyNameKey.String(name))}
}

// TimedOut reports one call whose deadline passed.
func (r *Timeout) TimedOut(ctx context.Context) {
	if r != nil {
		r.timeouts.Inc(ctx)
	}
}

// Retry reports one retry policy: palisade.retry.retries, the
// palisade.retry span event, palisade.retry.attempts on the span, and
// rejections by its budget.
type Retry struct {
	name    attribute.KeyValue
	retries *Counter
	budget  *Counter
}

// NewRetry returns the reporter of the retry policy called name, whose
// budget rejections have the given error.type; nil when t is disabled.
func NewRetry(t *telemetry.Telemetry, name, budgetErrorType string) *Retry {
	if t.IsDisabled() {
		return nil
	}
	m := t.Meter()
	nameAttr := semconv.PolicyNameKey.String(name)
	return &Retry{
		name: nameAttr,
		retries: NewCounter(m, semconv.RetryRetries, "{retry}",
			"Attempts made after the first by a retry policy.", "", nameAttr),
		budget: NewRejections(m, semconv.PolicyTypeRetry, name, budgetErrorType),
	}
}

// Retrying reports that attempt (2, 3, …) will run after delay because of
// err.
func (r *Retry) Retrying(ctx context.Context, attempt int, delay time.Duration, err error) {
	if r == nil {
		return
	}
	r.retries.Inc(ctx)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		// Attempt numbers and delays vary per call, so these attributes
		// cannot be built once; they are built only for a recording span.
		span.AddEvent(semconv.RetryEvent, trace.WithAttributes(
			r.name,
			semconv.RetryAttemptKey.Int(attempt),
			semconv.RetryDelayKey.Float64(delay.Seconds()),
			semconv.ErrorTypeKey.String(telemetry.ErrorType(err)),
		))
	}
}

// Attempts records on the span in ctx how many attempts ran, when more than
// one did.
func (r *Retry) Attempts(ctx context.Context, n int) {
	if r == nil || n <= 1 {
		return
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(semconv.RetryAttemptsKey.Int(n))
	}
}

// BudgetRejected reports a retry denied by the retry budget.
func (r *Retry) BudgetRejected(ctx context.Context) {
	if r != nil {
		r.budget.Inc(ctx)
	}
}

// Breaker reports one circuit breaker: its state (palisade.breaker.status,
// observed), transitions (palisade.breaker.transitions and the
// palisade.breaker.state_change event), its failure ratio
// (palisade.breaker.failure_ratio, observed) and its rejections.
type Breaker struct {
	states      int
	transitions []*Counter // [from*states+to]; nil for a transition that cannot happen
	rejections  *Counter
}

// Transition is a pair of state numbers.
type Transition struct{ From, To int }

// NewBreaker returns the reporter of the breaker owner called name, or nil
// when t is disabled. States are numbered by their index in states, whose
// values are the palisade.breaker.state attribute values; transitions are
// the ones that can happen, whose series start at 0. Rejections have the
// given error.type. At each metric collection, observe(owner) gives the
// current state and failure ratio (see [Observe]).
func NewBreaker[T any](t *telemetry.Telemetry, name string, states []string, transitions []Transition, errorType string, owner *T, observe func(*T) (state int, failureRatio float64)) *Breaker {
	if t.IsDisabled() {
		return nil
	}
	m := t.Meter()
	nameAttr := semconv.PolicyNameKey.String(name)
	n := len(states)
	r := &Breaker{
		states:      n,
		transitions: make([]*Counter, n*n),
		rejections:  NewRejections(m, semconv.PolicyTypeBreaker, name, errorType),
	}
	for _, tr := range transitions {
		r.transitions[tr.From*n+tr.To] = NewCounter(m, semconv.BreakerTransitions, "{transition}",
			"Circuit breaker state transitions.", semconv.StateChangeEvent,
			nameAttr,
			semconv.PreviousStateKey.String(states[tr.From]),
			semconv.BreakerStateKey.String(states[tr.To]))
	}
	status := IntGauge(m, semconv.BreakerStatus, "1",
		"Circuit breaker state: 1 for the current state, 0 for the others.")
	ratio := FloatGauge(m, semconv.BreakerFailureRatio, "1",
		"Failed calls over calls in the circuit breaker's window.")
	statusOpts := make([][]metric.ObserveOption, n)
	for s, stateName := range states {
		statusOpts[s] = ObserveOptions(nameAttr, semconv.BreakerStateKey.String(stateName))
	}
	ratioOpts := ObserveOptions(nameAttr)
	Observe(m, owner, func(owner *T, o metric.Observer) {
		state, failureRatio := observe(owner)
		for s := range n {
			var v int64
			if s == state {
				v = 1
			}
			o.ObserveInt64(status, v, statusOpts[s]...)
		}
		o.ObserveFloat64(ratio, failureRatio, ratioOpts...)
	}, status, ratio)
	return r
}

// StateChanged reports a transition between the states numbered from and to.
func (r *Breaker) StateChanged(ctx context.Context, from, to int) {
	if r != nil {
		r.transitions[from*r.states+to].Inc(ctx)
	}
}

// Rejected reports one call rejected by the breaker.
func (r *Breaker) Rejected(ctx context.Context) {
	if r != nil {
		r.rejections.Inc(ctx)
	}
}

// NewBulkhead registers the observation of the bulkhead owner called name —
// usage, limit and queue length, which observe(owner) gives at each metric
// collection (see [Observe]) — and returns the counter of its rejections,
// of the given error.type; nil when t is disabled.
func NewBulkhead[T any](t *telemetry.Telemetry, name, errorType string, owner *T, observe func(*T) (inFlight, limit, queued int)) *Counter {
	if t.IsDisabled() {
		return nil
	}
	m := t.Meter()
	usage := IntGauge(m, semconv.BulkheadUsage, "{call}", "Calls running inside the bulkhead.")
	limit := IntGauge(m, semconv.BulkheadLimit, "{call}", "Calls the bulkhead lets run at once.")
	queued := IntGauge(m, semconv.BulkheadQueued, "{call}", "Calls waiting in the bulkhead's queue.")
	opts := ObserveOptions(semconv.PolicyNameKey.String(name))
	Observe(m, owner, func(owner *T, o metric.Observer) {
		inFlight, max, waiting := observe(owner)
		o.ObserveInt64(usage, int64(inFlight), opts...)
		o.ObserveInt64(limit, int64(max), opts...)
		o.ObserveInt64(queued, int64(waiting), opts...)
	}, usage, limit, queued)
	return NewRejections(m, semconv.PolicyTypeBulkhead, name, errorType)
}
