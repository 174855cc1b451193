package report

import (
	"context"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/telemetry"
)

// NewRateLimit registers the observation of the rate limiter owner called
// name — the permits available now (palisade.ratelimit.available), which
// observe(owner) gives at each metric collection — and returns the counter
// of its rejections, of the given error.type; nil when t is disabled.
func NewRateLimit[T any](t *telemetry.Telemetry, name, errorType string, owner *T, observe func(*T) int) *Counter {
	if t.IsDisabled() {
		return nil
	}
	m := t.Meter()
	available := IntGauge(m, semconv.RateLimiterAvailable, "{permit}",
		"Permits the rate limiter would grant at once.")
	opts := ObserveOptions(semconv.PolicyNameKey.String(name))
	Observe(m, owner, func(owner *T, o metric.Observer) {
		o.ObserveInt64(available, int64(observe(owner)), opts...)
	}, available)
	return NewRejections(m, semconv.PolicyTypeRateLimit, name, errorType)
}

// Limiter reports one adaptive concurrency limiter: limit, calls in flight
// and calls queued (observed), its rejections, and large limit changes as
// span events.
type Limiter struct {
	rejections *Counter
	event      []trace.EventOption // the name attribute, built once
}

// NewLimiter returns the reporter of the limiter owner called name, or nil
// when t is disabled. Rejections have the given error.type. At each metric
// collection, observe(owner) gives the limit, the calls in flight and the
// calls queued.
func NewLimiter[T any](t *telemetry.Telemetry, name, errorType string, owner *T, observe func(*T) (limit, inFlight, queued int)) *Limiter {
	if t.IsDisabled() {
		return nil
	}
	m := t.Meter()
	limit := IntGauge(m, semconv.LimiterLimit, "{call}", "Calls the adaptive limiter lets run at once now.")
	inflight := IntGauge(m, semconv.LimiterInflight, "{call}", "Calls running inside the adaptive limiter.")
	queued := IntGauge(m, semconv.LimiterQueued, "{call}", "Calls waiting in the adaptive limiter's queue.")
	nameAttr := semconv.PolicyNameKey.String(name)
	opts := ObserveOptions(nameAttr)
	Observe(m, owner, func(owner *T, o metric.Observer) {
		l, f, q := observe(owner)
		o.ObserveInt64(limit, int64(l), opts...)
		o.ObserveInt64(inflight, int64(f), opts...)
		o.ObserveInt64(queued, int64(q), opts...)
	}, limit, inflight, queued)
	return &Limiter{
		rejections: NewRejections(m, semconv.PolicyTypeLimiter, name, errorType),
		event:      []trace.EventOption{trace.WithAttributes(nameAttr)},
	}
}

// Rejected reports one call refused by the limiter.
func (r *Limiter) Rejected(ctx context.Context) {
	if r != nil {
		r.rejections.Inc(ctx)
	}
}

// LimitChanged adds a palisade.limiter.limit_change event to the span in
// ctx, when it is recording: the limit went from prev to limit.
func (r *Limiter) LimitChanged(ctx context.Context, prev, limit int) {
	if r == nil {
		return
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(semconv.LimitChangeEvent, append(r.event[:1:1], trace.WithAttributes(
			semconv.LimiterPrevKey.Int(prev),
			semconv.LimiterLimitKey.Int(limit),
		))...)
	}
}

// NewThrottle registers the observation of the adaptive throttle owner
// called name — its probability of rejecting a call now
// (palisade.throttle.reject_ratio), which observe(owner) gives at each
// metric collection — and returns the counter of its rejections, of the
// given error.type; nil when t is disabled.
func NewThrottle[T any](t *telemetry.Telemetry, name, errorType string, owner *T, observe func(*T) float64) *Counter {
	if t.IsDisabled() {
		return nil
	}
	m := t.Meter()
	ratio := FloatGauge(m, semconv.ThrottleRejectRatio, "1",
		"Probability with which the adaptive throttle rejects a call now.")
	opts := ObserveOptions(semconv.PolicyNameKey.String(name))
	Observe(m, owner, func(owner *T, o metric.Observer) {
		o.ObserveFloat64(ratio, observe(owner), opts...)
	}, ratio)
	return NewRejections(m, semconv.PolicyTypeThrottle, name, errorType)
}
