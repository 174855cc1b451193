package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/palisade-go/palisade/internal/attrcache"
	"github.com/palisade-go/palisade/internal/semconv"
)

// Reporter reports the rejections and span events of one policy written
// outside this module, under the names palisade's own policies use:
// rejections count in palisade.rejected_calls and add a palisade.rejected
// event to the span in the call's context, with palisade.policy.type,
// palisade.policy.name and error.type. A nil *Reporter reports nothing, so
// a policy can hold the nil that [Disabled] gives.
//
// Build one per policy, when the policy is built: the attribute sets are
// computed then, and a rejection costs no allocation afterwards.
type Reporter struct {
	rejected metric.Int64Counter
	base     []attribute.KeyValue
	byType   *attrcache.Cache // base + error.type
}

// Reporter returns the reporter of the policy of type policyType (by
// convention the name of its Go package, e.g. "ratelimit") called name, or
// nil when t is [Disabled]. errorTypes are the error.type values of the
// policy's rejections known in advance: their series exist from now on with
// the value 0, so that a backend's rate() sees the first rejection.
func (t *Telemetry) Reporter(policyType, name string, errorTypes ...string) *Reporter {
	if t.IsDisabled() {
		return nil
	}
	c, err := t.Meter().Int64Counter(semconv.RejectedCalls,
		metric.WithUnit("{call}"),
		metric.WithDescription("Calls rejected by a policy without running them."))
	handle(err)
	base := []attribute.KeyValue{semconv.PolicyTypeKey.String(policyType), semconv.PolicyNameKey.String(name)}
	r := &Reporter{rejected: c, base: base, byType: &attrcache.Cache{Base: base}}
	for _, et := range errorTypes {
		c.Add(context.Background(), 0, r.byType.Get(et).Add...)
	}
	return r
}

// Rejected reports that the policy rejected a call with err: it adds 1 to
// palisade.rejected_calls and a palisade.rejected event to the span in ctx,
// with err's error.type (see [ErrorType]).
func (r *Reporter) Rejected(ctx context.Context, err error) {
	if r == nil {
		return
	}
	o := r.byType.Get(ErrorType(err))
	r.rejected.Add(ctx, 1, o.Add...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(semconv.RejectedEvent, o.Event...)
	}
}

// Event adds an event called name to the span in ctx, when it is
// recording, with the policy's type and name and attrs. Keep attrs few and
// of bounded cardinality; name them after the policy (e.g.
// "mypolicy.reason").
func (r *Reporter) Event(ctx context.Context, name string, attrs ...attribute.KeyValue) {
	if r == nil {
		return
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		all := make([]attribute.KeyValue, 0, len(r.base)+len(attrs))
		all = append(append(all, r.base...), attrs...)
		span.AddEvent(name, trace.WithAttributes(all...))
	}
}
