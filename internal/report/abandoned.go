package report

import (
	"go.opentelemetry.io/otel/metric"

	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/telemetry"
)

// ObserveAbandoned registers the async gauge palisade.timeout.abandoned of
// the abandoning timeout owner called name: at each collection,
// running(owner) gives the abandoned attempts still running. It does
// nothing when t is disabled.
func ObserveAbandoned[T any](t *telemetry.Telemetry, name string, owner *T, running func(*T) int64) {
	if t.IsDisabled() {
		return
	}
	m := t.Meter()
	g := IntGauge(m, semconv.TimeoutAbandoned, "{attempt}",
		"Attempts a timeout policy abandoned at its deadline that are still running.")
	opts := ObserveOptions(semconv.PolicyNameKey.String(name))
	Observe(m, owner, func(owner *T, o metric.Observer) {
		o.ObserveInt64(g, running(owner), opts...)
	}, g)
}
