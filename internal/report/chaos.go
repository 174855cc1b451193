package report

import (
	"context"

	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/telemetry"
)

// Chaos reports one chaos policy: palisade.chaos.injections by kind, with
// the palisade.chaos event.
type Chaos struct {
	fault, latency *Counter
}

// NewChaos returns the reporter of the chaos policy called name, or nil
// when t is disabled. Both kinds' series start at 0.
func NewChaos(t *telemetry.Telemetry, name string) *Chaos {
	if t.IsDisabled() {
		return nil
	}
	m := t.Meter()
	nameAttr := semconv.PolicyNameKey.String(name)
	const desc = "Faults and latency injected by a chaos policy."
	return &Chaos{
		fault:   NewCounter(m, semconv.ChaosInjections, "{injection}", desc, semconv.ChaosEvent, nameAttr, semconv.ChaosKindKey.String("fault")),
		latency: NewCounter(m, semconv.ChaosInjections, "{injection}", desc, semconv.ChaosEvent, nameAttr, semconv.ChaosKindKey.String("latency")),
	}
}

// Fault reports an injected fault.
func (r *Chaos) Fault(ctx context.Context) {
	if r != nil {
		r.fault.Inc(ctx)
	}
}

// Latency reports injected latency.
func (r *Chaos) Latency(ctx context.Context) {
	if r != nil {
		r.latency.Inc(ctx)
	}
}
