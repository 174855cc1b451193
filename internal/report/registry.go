package report

import (
	"context"

	"go.opentelemetry.io/otel/metric"

	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/telemetry"
)

// Registry reports one registry of pipelines: its entries (observed), its
// evictions by reason, and the new keys it refused for being full (as
// rejections of policy type registry).
type Registry struct {
	idle, capacity, removed *Counter
	full                    *Counter
}

// NewRegistry returns the reporter of the registry owner called name, or
// nil when t is disabled. At each metric collection, entries(owner) gives
// the number of entries (see [Observe]). Refusals have the given
// error.type.
func NewRegistry[T any](t *telemetry.Telemetry, name, errorType string, owner *T, entries func(*T) int) *Registry {
	if t.IsDisabled() {
		return nil
	}
	m := t.Meter()
	nameAttr := semconv.RegistryNameKey.String(name)
	gauge := IntGauge(m, semconv.RegistryEntries, "{entry}", "Entries of a registry of pipelines.")
	opts := ObserveOptions(nameAttr)
	Observe(m, owner, func(owner *T, o metric.Observer) {
		o.ObserveInt64(gauge, int64(entries(owner)), opts...)
	}, gauge)
	evictions := func(reason string) *Counter {
		return NewCounter(m, semconv.RegistryEvictions, "{entry}",
			"Entries taken out of a registry of pipelines, by reason.", "",
			nameAttr, semconv.EvictionReasonKey.String(reason))
	}
	return &Registry{
		idle:     evictions(semconv.EvictionIdle),
		capacity: evictions(semconv.EvictionCapacity),
		removed:  evictions(semconv.EvictionRemoved),
		full:     NewRejections(m, semconv.PolicyTypeRegistry, name, errorType),
	}
}

// EvictedIdle reports n entries evicted for being idle.
func (r *Registry) EvictedIdle(n int) {
	if r != nil && n > 0 {
		r.idle.counter.Add(context.Background(), int64(n), r.idle.opts.Add...)
	}
}

// EvictedForRoom reports an entry evicted to make room for a new key.
func (r *Registry) EvictedForRoom() {
	if r != nil {
		r.capacity.Inc(context.Background())
	}
}

// Removed reports an entry taken out by Remove.
func (r *Registry) Removed() {
	if r != nil {
		r.removed.Inc(context.Background())
	}
}

// Full reports a new key refused because every entry was busy.
func (r *Registry) Full() {
	if r != nil {
		r.full.Inc(context.Background())
	}
}
