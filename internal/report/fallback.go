package report

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/palisade-go/palisade/internal/attrcache"
	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/telemetry"
)

// Fallback reports one fallback policy: palisade.fallback.uses, by the
// error.type of the replaced error, and the palisade.fallback event.
type Fallback struct {
	uses metric.Int64Counter
	opts *attrcache.Cache // per error.type, bounded
}

// NewFallback returns the reporter of the fallback policy called name, or
// nil when t is disabled. A series is created when an error.type is first
// replaced: error types are not known in advance.
func NewFallback(t *telemetry.Telemetry, name string) *Fallback {
	if t.IsDisabled() {
		return nil
	}
	c, err := t.Meter().Int64Counter(semconv.FallbackUses, metric.WithUnit("{call}"),
		metric.WithDescription("Calls whose outcome a fallback policy replaced, by the error.type of the replaced error."))
	handle(err)
	return &Fallback{uses: c, opts: &attrcache.Cache{Base: []attribute.KeyValue{semconv.PolicyNameKey.String(name)}}}
}

// Used reports that the outcome err of a call was replaced.
func (r *Fallback) Used(ctx context.Context, err error) {
	if r == nil {
		return
	}
	o := r.opts.Get(telemetry.ErrorType(err))
	r.uses.Add(ctx, 1, o.Add...)
	addEvent(ctx, semconv.FallbackEvent, o.Event)
}
