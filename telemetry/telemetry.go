// Package telemetry connects palisade's policies to OpenTelemetry.
//
// It is the only package that knows the names of palisade's instruments, span
// events and attributes. A [Telemetry] value says which providers to report
// to; policies take one through their Config (nil means [Default]) and build
// a reporter from it once, at construction, so that attribute sets are
// computed once per policy and never per call.
//
// # Providers
//
// Options that are not given mean the global providers, as in otelhttp. The
// global providers are looked up when a policy is built, never cached by the
// package: a policy built before the application calls otel.SetMeterProvider
// reports to it through OpenTelemetry's global delegation, and one built
// later uses the provider current at that time.
//
// # Cost
//
// [Disabled] records nothing and costs nothing: its reporters are nil, and
// every reporter method is a no-op on a nil receiver. With telemetry on, the
// success path of a pipeline records one histogram measurement and reads the
// clock only when a metric SDK is listening.
//
// # Policies of your own
//
// A policy written outside this module reports its rejections and events
// under palisade's names through a [Reporter], so that dashboards and trace
// queries built for palisade's policies see it too. [Telemetry.Meter] and
// [Telemetry.Tracer] give the meter and tracer palisade itself uses, for
// instruments of its own.
package telemetry

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of every meter and tracer palisade
// uses: the module path.
const ScopeName = "github.com/palisade-go/palisade"

// Version is the version of palisade reported as the instrumentation scope
// version.
const Version = "0.1.0"

// Telemetry holds the providers palisade reports to. The zero value is not
// useful; build one with [New], or use [Default] or [Disabled]. A Telemetry is
// immutable and safe to share between any number of policies.
type Telemetry struct {
	meterProvider  metric.MeterProvider // nil: the global provider at reporter creation
	tracerProvider trace.TracerProvider // nil: the global provider at reporter creation
	disabled       bool
}

// Option configures a [Telemetry] built by [New].
type Option interface {
	apply(*Telemetry)
}

type optionFunc func(*Telemetry)

func (f optionFunc) apply(t *Telemetry) { f(t) }

// WithMeterProvider sets the meter provider. Without it, or with nil, the
// global provider is used.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(t *Telemetry) { t.meterProvider = mp })
}

// WithTracerProvider sets the tracer provider. Without it, or with nil, the
// global provider is used.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(t *Telemetry) { t.tracerProvider = tp })
}

// New returns a Telemetry reporting to the providers given by opts, and to
// the global providers for those not given.
func New(opts ...Option) *Telemetry {
	t := &Telemetry{}
	for _, o := range opts {
		o.apply(t)
	}
	return t
}

var (
	defaultTelemetry  = &Telemetry{}
	disabledTelemetry = &Telemetry{disabled: true}
)

// Default returns the Telemetry that reports to the global meter and tracer
// providers. It is what a nil *Telemetry in any Config means.
func Default() *Telemetry { return defaultTelemetry }

// Disabled returns a Telemetry that records nothing and costs nothing: no
// instruments, no spans, no clock reads.
func Disabled() *Telemetry { return disabledTelemetry }

// IsDisabled reports whether t is [Disabled]: whether reporters built from it
// record nothing. A nil t means [Default].
func (t *Telemetry) IsDisabled() bool { return t != nil && t.disabled }

// Meter returns the meter of scope [ScopeName] and version [Version] from
// t's meter provider, or from the global provider current at the time of
// the call when t has none (nil t means [Default]). Disabled's meter is a
// no-op one. Policies create their instruments from it once, when built.
func (t *Telemetry) Meter() metric.Meter {
	if t.IsDisabled() {
		return metricnoop.Meter{}
	}
	var mp metric.MeterProvider
	if t != nil {
		mp = t.meterProvider
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(ScopeName, metric.WithInstrumentationVersion(Version))
}

// Tracer returns the tracer of scope [ScopeName] and version [Version] from
// t's tracer provider, or from the global provider current at the time of
// the call when t has none (nil t means [Default]). Disabled's tracer is a
// no-op one.
func (t *Telemetry) Tracer() trace.Tracer {
	if t.IsDisabled() {
		return noop.Tracer{}
	}
	var tp trace.TracerProvider
	if t != nil {
		tp = t.tracerProvider
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(ScopeName, trace.WithInstrumentationVersion(Version))
}

// handle passes an error of the OTel API (an instrument that could not be
// created) to OpenTelemetry's error handler, as OTel's own instrumentation
// does: telemetry never fails a policy.
func handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}
