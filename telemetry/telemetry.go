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
// # Reporters
//
// The reporter types ([PipelineReporter], [TimeoutReporter], [BreakerReporter],
// [BulkheadReporter], [RetryReporter], [RejectionReporter]) are the small API
// through which policies emit their events. Applications rarely call them;
// authors of their own policies can, to report under the same names.
package telemetry

import (
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
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

// Enabled reports whether t records anything. A nil t means [Default] and is
// enabled.
func (t *Telemetry) Enabled() bool { return t == nil || !t.disabled }

// orDefault resolves nil to Default, so that reporter constructors accept the
// nil that Config structs hold.
func (t *Telemetry) orDefault() *Telemetry {
	if t == nil {
		return defaultTelemetry
	}
	return t
}

func (t *Telemetry) meter() metric.Meter {
	mp := t.meterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(ScopeName, metric.WithInstrumentationVersion(Version))
}

func (t *Telemetry) tracer() trace.Tracer {
	tp := t.tracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(ScopeName, trace.WithInstrumentationVersion(Version))
}

// unsetTracerProvider is OpenTelemetry's global tracer provider as it is
// before any otel.SetTracerProvider: a delegate whose spans record nothing.
// Starting one still costs several allocations per call, which an
// application that never set up tracing should not pay; see
// globalTracingUnset. It is nil if a provider was already set when this
// package was initialized.
var unsetTracerProvider = func() trace.TracerProvider {
	tp := otel.GetTracerProvider()
	if reflect.TypeOf(tp).String() != "*global.tracerProvider" {
		return nil
	}
	return tp
}()

// isNoop reports whether tp is OpenTelemetry's noop provider, whose spans
// record nothing and only carry their parent's span context along, which
// leaving the caller's context as it is does at no cost.
func isNoop(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case noop.TracerProvider, *noop.TracerProvider:
		return true
	}
	return false
}

// globalTracingUnset reports whether no global tracer provider has been set
// yet, so that a span from the global provider would record nothing.
func globalTracingUnset() bool {
	return unsetTracerProvider != nil && otel.GetTracerProvider() == unsetTracerProvider
}
