// Package oteltest is the OpenTelemetry harness palisade's tests share: a
// [telemetry.Telemetry] reporting to an SDK meter provider read by hand and
// to a tracer provider whose ended spans are recorded, with helpers to read
// back what was reported.
//
// A test builds a Harness with [New], gives its Telemetry to the policies
// under test, runs them, and then reads the metrics with [Harness.Metric],
// [Harness.Sum] or [Harness.Total], one data point with [Point], points by
// attribute with [ByAttributes], and the spans with [Harness.InSpan] or
// Spans.Ended(). Each read collects afresh, so it sees every cumulative
// value reported so far.
package oteltest

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/palisade-go/palisade/telemetry"
)

// Harness is a Telemetry wired to in-memory OpenTelemetry SDK providers.
type Harness struct {
	// Reader is the meter provider's only reader; it collects on demand.
	Reader *sdkmetric.ManualReader
	// Spans records every span the tracer provider starts and ends.
	Spans *tracetest.SpanRecorder
	// MeterProvider reports to Reader.
	MeterProvider *sdkmetric.MeterProvider
	// TracerProvider reports to Spans.
	TracerProvider *sdktrace.TracerProvider
	// Telemetry reports to MeterProvider and TracerProvider.
	Telemetry *telemetry.Telemetry
}

// New returns a Harness with fresh providers. They start no goroutines, so
// they need no shutdown.
func New() *Harness {
	h := &Harness{Reader: sdkmetric.NewManualReader(), Spans: tracetest.NewSpanRecorder()}
	h.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.Reader))
	h.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.Spans))
	h.Telemetry = telemetry.New(telemetry.WithMeterProvider(h.MeterProvider), telemetry.WithTracerProvider(h.TracerProvider))
	return h
}

// Metric collects and returns the metric called name, or nil if none has
// been reported. It fails the test if the collection fails or if a scope
// other than palisade's, at its version, reported.
func (h *Harness) Metric(t testing.TB, name string) *metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.Reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collecting metrics: %v", err)
	}
	var found *metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != telemetry.ScopeName || sm.Scope.Version != telemetry.Version {
			t.Errorf("metrics from scope %s %s, want %s %s", sm.Scope.Name, sm.Scope.Version, telemetry.ScopeName, telemetry.Version)
		}
		for i := range sm.Metrics {
			if sm.Metrics[i].Name == name && found == nil {
				found = &sm.Metrics[i]
			}
		}
	}
	return found
}

// Sum returns the data points of the int64 sum called name, or nil if it
// has not been reported. It fails the test if name is another kind of
// metric.
func (h *Harness) Sum(t testing.TB, name string) []metricdata.DataPoint[int64] {
	t.Helper()
	m := h.Metric(t, name)
	if m == nil {
		return nil
	}
	return sumPoints(t, m)
}

// Total returns the int64 sum called name added up over all its attribute
// sets. It fails the test at once if name has not been reported.
func (h *Harness) Total(t testing.TB, name string) int64 {
	t.Helper()
	m := h.Metric(t, name)
	if m == nil {
		t.Fatalf("no metric %s", name)
	}
	var total int64
	for _, dp := range sumPoints(t, m) {
		total += dp.Value
	}
	return total
}

func sumPoints(t testing.TB, m *metricdata.Metrics) []metricdata.DataPoint[int64] {
	t.Helper()
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is a %T, not an int64 sum", m.Name, m.Data)
	}
	return sum.DataPoints
}

// InSpan runs fn with a context whose current span is a recording span of
// TracerProvider, ends that span when fn returns, and returns it as
// recorded, with the events and attributes fn added to it.
func (h *Harness) InSpan(t testing.TB, fn func(ctx context.Context)) sdktrace.ReadOnlySpan {
	t.Helper()
	ctx, span := h.TracerProvider.Tracer("oteltest").Start(t.Context(), "caller")
	fn(ctx)
	span.End()
	ended := h.Spans.Ended()
	if len(ended) == 0 {
		t.Fatal("no span recorded")
	}
	return ended[len(ended)-1]
}

// Count is Total for a sum that may not have been reported yet: it returns 0
// for one that has not.
func (h *Harness) Count(t testing.TB, name string) int64 {
	t.Helper()
	var total int64
	for _, dp := range h.Sum(t, name) {
		total += dp.Value
	}
	return total
}

// Number is the value type of a sum or a gauge.
type Number interface{ int64 | float64 }

// points returns the data points of m, a sum or a gauge of N, and fails the
// test at once if m is of another kind.
func points[N Number](t testing.TB, m *metricdata.Metrics) []metricdata.DataPoint[N] {
	t.Helper()
	switch data := m.Data.(type) {
	case metricdata.Sum[N]:
		return data.DataPoints
	case metricdata.Gauge[N]:
		return data.DataPoints
	}
	var zero N
	t.Fatalf("%s is a %T, not a sum or gauge of %T", m.Name, m.Data, zero)
	return nil
}

// Point returns the value of the data point of the metric name, a sum or a
// gauge of N, whose attributes are exactly attrs. It fails the test at once
// if there is no such point.
func Point[N Number](t testing.TB, h *Harness, name string, attrs ...attribute.KeyValue) N {
	t.Helper()
	m := h.Metric(t, name)
	if m == nil {
		t.Fatalf("no metric %s", name)
	}
	want := attribute.NewSet(attrs...)
	for _, dp := range points[N](t, m) {
		if dp.Attributes.Equals(&want) {
			return dp.Value
		}
	}
	t.Fatalf("no %s point with attributes %v", name, want.ToSlice())
	return 0
}

// ByAttributes returns the values of the data points of the metric name, a
// sum or a gauge of N, keyed by the values of the attributes keys joined by
// "->" (as a transition is written: previous state, then state), or an
// empty map if name has not been reported.
func ByAttributes[N Number](t testing.TB, h *Harness, name string, keys ...attribute.Key) map[string]N {
	t.Helper()
	got := map[string]N{}
	m := h.Metric(t, name)
	if m == nil {
		return got
	}
	for _, dp := range points[N](t, m) {
		vals := make([]string, len(keys))
		for i, k := range keys {
			v, _ := dp.Attributes.Value(k)
			vals[i] = v.Emit()
		}
		got[strings.Join(vals, "->")] = dp.Value
	}
	return got
}

// Histogram returns the data points of the float64 histogram called name,
// or nil if it has not been reported. It fails the test if name is another
// kind of metric.
func (h *Harness) Histogram(t testing.TB, name string) []metricdata.HistogramDataPoint[float64] {
	t.Helper()
	m := h.Metric(t, name)
	if m == nil {
		return nil
	}
	hist, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is a %T, not a float64 histogram", m.Name, m.Data)
	}
	return hist.DataPoints
}
