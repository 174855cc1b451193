package bulkhead_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/telemetry"
)

type otelHarness struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tracer *sdktrace.TracerProvider
	tel    *telemetry.Telemetry
}

func newOTel(t *testing.T) *otelHarness {
	h := &otelHarness{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	h.tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = h.tracer.Shutdown(context.Background())
	})
	h.tel = telemetry.New(telemetry.WithMeterProvider(mp), telemetry.WithTracerProvider(h.tracer))
	return h
}

// sums collects and returns the int64 sums named name, by attribute set.
func (h *otelHarness) sums(t *testing.T, name string) map[attribute.Distinct]metricdata.DataPoint[int64] {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, h.reader.Collect(context.Background(), &rm))
	out := map[attribute.Distinct]metricdata.DataPoint[int64]{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != telemetry.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			require.True(t, ok, "%s is a %T", name, m.Data)
			for _, dp := range sum.DataPoints {
				out[dp.Attributes.Equivalent()] = dp
			}
		}
	}
	return out
}

// value returns the value of the int64 sum name with exactly attrs.
func (h *otelHarness) value(t *testing.T, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	set := attribute.NewSet(attrs...)
	dp, ok := h.sums(t, name)[set.Equivalent()]
	require.True(t, ok, "no %s point with %v", name, attrs)
	return dp.Value
}

func TestTelemetryObservedGauges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newOTel(t)
		b := bulkhead.Must(bulkhead.Config{Name: "db", MaxConcurrent: 2, MaxQueue: 3, Telemetry: h.tel})
		name := attribute.String("palisade.policy.name", "db")
		gauges := func() (usage, limit, queued int64) {
			return h.value(t, "palisade.bulkhead.usage", name),
				h.value(t, "palisade.bulkhead.limit", name),
				h.value(t, "palisade.bulkhead.queued", name)
		}
		u, l, q := gauges()
		assert.Equal(t, [3]int64{0, 2, 0}, [3]int64{u, l, q})

		var calls []*call
		for range 3 {
			calls = append(calls, start(t.Context(), b))
			synctest.Wait()
		}
		u, l, q = gauges()
		assert.Equal(t, [3]int64{2, 2, 1}, [3]int64{u, l, q})

		for _, c := range calls {
			synctest.Wait()
			c.finish()
			require.NoError(t, c.result())
		}
		u, l, q = gauges()
		assert.Equal(t, [3]int64{0, 2, 0}, [3]int64{u, l, q})

		// The instruments' units.
		var rm metricdata.ResourceMetrics
		require.NoError(t, h.reader.Collect(context.Background(), &rm))
		for _, m := range rm.ScopeMetrics[0].Metrics {
			assert.Equal(t, "{call}", m.Unit, m.Name)
		}
	})
}

func TestTelemetryRejections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newOTel(t)
		b := bulkhead.Must(bulkhead.Config{Name: "db", MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Second, Telemetry: h.tel})
		attrs := []attribute.KeyValue{
			attribute.String("palisade.policy.type", "bulkhead"),
			attribute.String("palisade.policy.name", "db"),
			attribute.String("error.type", "bulkhead_full"),
		}
		holder := start(t.Context(), b)
		synctest.Wait()

		// A waiter whose context ends is not a rejection.
		ctx, cancel := context.WithCancel(t.Context())
		w := start(ctx, b)
		synctest.Wait()
		cancel()
		assert.Equal(t, context.Canceled, w.result()) //nolint:testifylint // the ctx's error itself
		assert.Empty(t, h.sums(t, "palisade.rejected_calls"))

		// Queue full, inside a recording span.
		w = start(t.Context(), b)
		synctest.Wait()
		spanCtx, span := h.tracer.Tracer("test").Start(t.Context(), "op")
		require.ErrorIs(t, b.Execute(spanCtx, noop), bulkhead.ErrFull)
		span.End()
		assert.Equal(t, int64(1), h.value(t, "palisade.rejected_calls", attrs...))

		ended := h.spans.Ended()
		require.Len(t, ended, 1)
		events := ended[0].Events()
		require.Len(t, events, 1)
		assert.Equal(t, "palisade.rejected", events[0].Name)
		assert.ElementsMatch(t, attrs, events[0].Attributes)

		// MaxWait passing is a rejection too: the call gets ErrFull.
		require.ErrorIs(t, w.result(), bulkhead.ErrFull)
		assert.Equal(t, int64(2), h.value(t, "palisade.rejected_calls", attrs...))
		assert.Len(t, h.sums(t, "palisade.rejected_calls"), 1, "one attribute set")

		holder.finish()
		require.NoError(t, holder.result())
	})
}
