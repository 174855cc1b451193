package telemetry

import (
	"context"
	"runtime"
	"time"
	"weak"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// addEvent adds an event to the span in ctx, only when it is recording.
func addEvent(ctx context.Context, name string, opts []trace.EventOption) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(name, opts...)
	}
}

func handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

// RejectionReporter reports the calls one policy rejects:
// palisade.rejected_calls and the palisade.rejected span event. A nil
// *RejectionReporter reports nothing.
type RejectionReporter struct {
	counter   metric.Int64Counter
	addOpts   []metric.AddOption
	eventOpts []trace.EventOption
}

// Rejections returns the reporter of rejections by the policy of type
// policyType (one of the PolicyType constants) called name, whose errors have
// the given error.type; nil when t is disabled.
func (t *Telemetry) Rejections(policyType, name, errorType string) *RejectionReporter {
	t = t.orDefault()
	if t.disabled {
		return nil
	}
	return t.rejections(t.meter(), policyType, name, errorType)
}

func (t *Telemetry) rejections(m metric.Meter, policyType, name, errorType string) *RejectionReporter {
	c, err := m.Int64Counter(rejectedCallsName,
		metric.WithUnit("{call}"),
		metric.WithDescription("Calls rejected by a policy without running them."))
	handle(err)
	attrs := []attribute.KeyValue{
		policyTypeKey.String(policyType),
		policyNameKey.String(name),
		errorTypeKey.String(errorType),
	}
	return &RejectionReporter{
		counter:   c,
		addOpts:   addOptions(attrs...),
		eventOpts: []trace.EventOption{trace.WithAttributes(attrs...)},
	}
}

// Rejected reports one rejected call.
func (r *RejectionReporter) Rejected(ctx context.Context) {
	if r == nil {
		return
	}
	r.counter.Add(ctx, 1, r.addOpts...)
	addEvent(ctx, rejectedEventName, r.eventOpts)
}

// TimeoutReporter reports the calls one timeout policy cut short:
// palisade.timeout.timeouts and the palisade.timeout span event. A nil
// *TimeoutReporter reports nothing.
type TimeoutReporter struct {
	counter   metric.Int64Counter
	addOpts   []metric.AddOption
	eventOpts []trace.EventOption
}

// Timeout returns the reporter of the timeout policy called name, or nil when
// t is disabled.
func (t *Telemetry) Timeout(name string) *TimeoutReporter {
	t = t.orDefault()
	if t.disabled {
		return nil
	}
	c, err := t.meter().Int64Counter(timeoutTimeoutsName,
		metric.WithUnit("{timeout}"),
		metric.WithDescription("Calls whose deadline, set by a timeout policy, passed."))
	handle(err)
	nameAttr := policyNameKey.String(name)
	return &TimeoutReporter{
		counter:   c,
		addOpts:   addOptions(nameAttr),
		eventOpts: []trace.EventOption{trace.WithAttributes(nameAttr)},
	}
}

// TimedOut reports one call whose deadline passed.
func (r *TimeoutReporter) TimedOut(ctx context.Context) {
	if r == nil {
		return
	}
	r.counter.Add(ctx, 1, r.addOpts...)
	addEvent(ctx, timeoutEventName, r.eventOpts)
}

// RetryReporter reports one retry policy: palisade.retry.retries, the
// palisade.retry span event, palisade.retry.attempts on the span, and budget
// rejections. A nil *RetryReporter reports nothing.
type RetryReporter struct {
	name       attribute.KeyValue
	counter    metric.Int64Counter
	addOpts    []metric.AddOption
	rejections *RejectionReporter
}

// Retry returns the reporter of the retry policy called name, whose budget
// rejections have the given error.type; nil when t is disabled.
func (t *Telemetry) Retry(name, budgetErrorType string) *RetryReporter {
	t = t.orDefault()
	if t.disabled {
		return nil
	}
	m := t.meter()
	c, err := m.Int64Counter(retryRetriesName,
		metric.WithUnit("{retry}"),
		metric.WithDescription("Attempts made after the first by a retry policy."))
	handle(err)
	nameAttr := policyNameKey.String(name)
	return &RetryReporter{
		name:       nameAttr,
		counter:    c,
		addOpts:    addOptions(nameAttr),
		rejections: t.rejections(m, PolicyTypeRetry, name, budgetErrorType),
	}
}

// Retrying reports that attempt (2, 3, …) will run after delay because of
// err.
func (r *RetryReporter) Retrying(ctx context.Context, attempt int, delay time.Duration, err error) {
	if r == nil {
		return
	}
	r.counter.Add(ctx, 1, r.addOpts...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		// Attempt numbers and delays vary per call, so these attributes
		// cannot be built once; they are built only for a recording span.
		span.AddEvent(retryEventName, trace.WithAttributes(
			r.name,
			retryAttemptKey.Int(attempt),
			retryDelayKey.Float64(delay.Seconds()),
			errorTypeKey.String(ErrorType(err)),
		))
	}
}

// Attempts records on the span in ctx how many attempts ran, when more than
// one did.
func (r *RetryReporter) Attempts(ctx context.Context, n int) {
	if r == nil || n <= 1 {
		return
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(retryAttemptsKey.Int(n))
	}
}

// BudgetRejected reports a retry denied by the retry budget.
func (r *RetryReporter) BudgetRejected(ctx context.Context) {
	if r == nil {
		return
	}
	r.rejections.Rejected(ctx)
}

// BreakerReporter reports one circuit breaker: its state
// (palisade.breaker.status, observed), transitions
// (palisade.breaker.transitions and the palisade.breaker.state_change span
// event), its failure ratio (palisade.breaker.failure_ratio, observed) and
// its rejections. A nil *BreakerReporter reports nothing.
type BreakerReporter struct {
	states      int
	transitions metric.Int64Counter
	changeAdd   [][]metric.AddOption  // [from*states+to]
	changeEvent [][]trace.EventOption // [from*states+to]
	rejections  *RejectionReporter
}

// NewBreakerReporter returns the reporter of the breaker owner called name,
// or nil when t is disabled. States are numbered by their index in states,
// whose values are the palisade.breaker.state attribute values. Rejections
// have the given error.type.
//
// At each metric collection, observe(owner) gives the current state and
// failure ratio; it runs on the collecting goroutine, so it must be safe for
// concurrent use and must not run user callbacks. The reporter holds owner
// weakly: once owner is unreachable its observation is unregistered.
func NewBreakerReporter[T any](t *Telemetry, name string, states []string, errorType string, owner *T, observe func(*T) (state int, failureRatio float64)) *BreakerReporter {
	t = t.orDefault()
	if t.disabled {
		return nil
	}
	m := t.meter()
	transitions, err := m.Int64Counter(breakerTransitionsName,
		metric.WithUnit("{transition}"),
		metric.WithDescription("Circuit breaker state transitions."))
	handle(err)
	status, err := m.Int64ObservableUpDownCounter(breakerStatusName,
		metric.WithUnit("1"),
		metric.WithDescription("Circuit breaker state: 1 for the current state, 0 for the others."))
	handle(err)
	ratio, err := m.Float64ObservableGauge(breakerFailureRatioName,
		metric.WithUnit("1"),
		metric.WithDescription("Failed calls over calls in the circuit breaker's window."))
	handle(err)

	nameAttr := policyNameKey.String(name)
	n := len(states)
	r := &BreakerReporter{
		states:      n,
		transitions: transitions,
		changeAdd:   make([][]metric.AddOption, n*n),
		changeEvent: make([][]trace.EventOption, n*n),
		rejections:  t.rejections(m, PolicyTypeBreaker, name, errorType),
	}
	statusOpts := make([][]metric.ObserveOption, n)
	for to, toName := range states {
		statusOpts[to] = []metric.ObserveOption{metric.WithAttributeSet(
			attribute.NewSet(nameAttr, breakerStateKey.String(toName)))}
		for from, fromName := range states {
			attrs := []attribute.KeyValue{nameAttr, previousStateKey.String(fromName), breakerStateKey.String(toName)}
			r.changeAdd[from*n+to] = addOptions(attrs...)
			r.changeEvent[from*n+to] = []trace.EventOption{trace.WithAttributes(attrs...)}
		}
	}
	ratioOpts := []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(nameAttr))}

	weakOwner := weak.Make(owner)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		owner := weakOwner.Value()
		if owner == nil {
			return nil
		}
		state, failureRatio := observe(owner)
		for s := range n {
			var v int64
			if s == state {
				v = 1
			}
			o.ObserveInt64(status, v, statusOpts[s]...)
		}
		o.ObserveFloat64(ratio, failureRatio, ratioOpts...)
		return nil
	}, status, ratio)
	handle(err)
	if reg != nil {
		runtime.AddCleanup(owner, unregister, reg)
	}
	return r
}

func unregister(reg metric.Registration) { handle(reg.Unregister()) }

// StateChanged reports a transition between the states numbered from and to.
func (r *BreakerReporter) StateChanged(ctx context.Context, from, to int) {
	if r == nil {
		return
	}
	i := from*r.states + to
	r.transitions.Add(ctx, 1, r.changeAdd[i]...)
	addEvent(ctx, stateChangeEventName, r.changeEvent[i])
}

// Rejected reports one call rejected by the breaker.
func (r *BreakerReporter) Rejected(ctx context.Context) {
	if r == nil {
		return
	}
	r.rejections.Rejected(ctx)
}

// BulkheadReporter reports one bulkhead: usage, limit and queue length
// (observed) and its rejections. A nil *BulkheadReporter reports nothing.
type BulkheadReporter struct {
	rejections *RejectionReporter
}

// NewBulkheadReporter returns the reporter of the bulkhead owner called name,
// or nil when t is disabled. Rejections have the given error.type. At each
// metric collection, observe(owner) gives the calls in flight, the limit and
// the calls queued; it must be safe for concurrent use. The reporter holds
// owner weakly: once owner is unreachable its observation is unregistered.
func NewBulkheadReporter[T any](t *Telemetry, name, errorType string, owner *T, observe func(*T) (inFlight, limit, queued int)) *BulkheadReporter {
	t = t.orDefault()
	if t.disabled {
		return nil
	}
	m := t.meter()
	usage, err := m.Int64ObservableUpDownCounter(bulkheadUsageName,
		metric.WithUnit("{call}"),
		metric.WithDescription("Calls running inside the bulkhead."))
	handle(err)
	limit, err := m.Int64ObservableUpDownCounter(bulkheadLimitName,
		metric.WithUnit("{call}"),
		metric.WithDescription("Calls the bulkhead lets run at once."))
	handle(err)
	queued, err := m.Int64ObservableUpDownCounter(bulkheadQueuedName,
		metric.WithUnit("{call}"),
		metric.WithDescription("Calls waiting in the bulkhead's queue."))
	handle(err)

	opts := []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(policyNameKey.String(name)))}
	weakOwner := weak.Make(owner)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		owner := weakOwner.Value()
		if owner == nil {
			return nil
		}
		inFlight, max, waiting := observe(owner)
		o.ObserveInt64(usage, int64(inFlight), opts...)
		o.ObserveInt64(limit, int64(max), opts...)
		o.ObserveInt64(queued, int64(waiting), opts...)
		return nil
	}, usage, limit, queued)
	handle(err)
	if reg != nil {
		runtime.AddCleanup(owner, unregister, reg)
	}
	return &BulkheadReporter{rejections: t.rejections(m, PolicyTypeBulkhead, name, errorType)}
}

// Rejected reports one call rejected by the bulkhead.
func (r *BulkheadReporter) Rejected(ctx context.Context) {
	if r == nil {
		return
	}
	r.rejections.Rejected(ctx)
}
