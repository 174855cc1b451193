// Package report holds the reporters through which palisade's own policies
// and pipelines emit their metrics and span events, under the names of
// package internal/semconv. Each reporter is built once per policy, from the
// policy's *telemetry.Telemetry, with its attribute sets computed then; a
// nil reporter (what a disabled Telemetry gives) reports nothing, so every
// method is a no-op on a nil receiver.
//
// Counters whose attribute sets are known when a policy is built are
// created with the value 0 then, so that a backend's increase() or rate()
// sees their first event.
package report

import (
	"context"
	"runtime"
	"weak"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/palisade-go/palisade/internal/attrcache"
	"github.com/palisade-go/palisade/internal/semconv"
)

func handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

// addEvent adds an event to the span in ctx, only when it is recording.
func addEvent(ctx context.Context, name string, opts []trace.EventOption) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(name, opts...)
	}
}

// Counter is one counter series whose attributes are known when a policy is
// built, with a span event of the same attributes.
type Counter struct {
	counter metric.Int64Counter
	opts    *attrcache.Options
	event   string // "" for none
}

// NewCounter creates the counter called name and its series with attrs, at
// 0; Inc also adds event (unless "") to the call's span.
func NewCounter(m metric.Meter, name, unit, description, event string, attrs ...attribute.KeyValue) *Counter {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(description))
	handle(err)
	o := attrcache.New(attrs...)
	c.Add(context.Background(), 0, o.Add...)
	return &Counter{counter: c, opts: o, event: event}
}

// Inc adds 1 to the series and the event to the span in ctx.
func (c *Counter) Inc(ctx context.Context) {
	if c == nil {
		return
	}
	c.counter.Add(ctx, 1, c.opts.Add...)
	if c.event != "" {
		addEvent(ctx, c.event, c.opts.Event)
	}
}

// NewRejections returns the counter of the calls that the policy of type
// policyType called name rejects with errors of the given error.type:
// palisade.rejected_calls and the palisade.rejected event.
func NewRejections(m metric.Meter, policyType, name, errorType string) *Counter {
	return NewCounter(m, semconv.RejectedCalls, "{call}",
		"Calls rejected by a policy without running them.",
		semconv.RejectedEvent,
		semconv.PolicyTypeKey.String(policyType),
		semconv.PolicyNameKey.String(name),
		semconv.ErrorTypeKey.String(errorType))
}

// Observe registers observe as the callback of instruments, called at each
// metric collection with owner. It holds owner weakly: once owner is
// unreachable the callback is unregistered, so that a dropped policy is no
// longer observed and its instruments' registration does not keep it
// alive. observe runs on the collecting goroutine: it must be safe for
// concurrent use and must not run user callbacks.
func Observe[T any](m metric.Meter, owner *T, observe func(*T, metric.Observer), instruments ...metric.Observable) {
	weakOwner := weak.Make(owner)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if owner := weakOwner.Value(); owner != nil {
			observe(owner, o)
		}
		return nil
	}, instruments...)
	handle(err)
	if reg != nil {
		runtime.AddCleanup(owner, unregister, reg)
	}
}

func unregister(reg metric.Registration) { handle(reg.Unregister()) }

// ObserveOptions returns the options of an observation with attrs, built
// once.
func ObserveOptions(attrs ...attribute.KeyValue) []metric.ObserveOption {
	return []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
}

// IntGauge creates an observable up-down counter (the kind palisade uses for
// levels that go up and down: usage, limits, queue lengths).
func IntGauge(m metric.Meter, name, unit, description string) metric.Int64ObservableUpDownCounter {
	g, err := m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(description))
	handle(err)
	return g
}

// FloatGauge creates an observable gauge.
func FloatGauge(m metric.Meter, name, unit, description string) metric.Float64ObservableGauge {
	g, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(description))
	handle(err)
	return g
}
