package bulkhead_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy/bulkhead"
)

func TestTelemetryObservedGauges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		b := bulkhead.Must(bulkhead.Config{Name: "db", MaxConcurrent: 2, MaxQueue: 3, Telemetry: h.Telemetry})
		name := attribute.String("palisade.policy.name", "db")
		gauges := func() (usage, limit, queued int64) {
			return oteltest.Point[int64](t, h, "palisade.bulkhead.usage", name),
				oteltest.Point[int64](t, h, "palisade.bulkhead.limit", name),
				oteltest.Point[int64](t, h, "palisade.bulkhead.queued", name)
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
		require.NoError(t, h.Reader.Collect(context.Background(), &rm))
		for _, m := range rm.ScopeMetrics[0].Metrics {
			assert.Equal(t, "{call}", m.Unit, m.Name)
		}
	})
}

func TestTelemetryRejections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		b := bulkhead.Must(bulkhead.Config{Name: "db", MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Second, Telemetry: h.Telemetry})
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
		assertWaitEnded(t, context.Canceled, w.result())
		assert.Zero(t, h.Total(t, "palisade.rejected_calls"), "a caller giving up is not a rejection")
		require.Len(t, h.Sum(t, "palisade.rejected_calls"), 1, "the rejection series exists from construction")

		// Queue full, inside a recording span.
		w = start(t.Context(), b)
		synctest.Wait()
		span := h.InSpan(t, func(ctx context.Context) {
			require.ErrorIs(t, b.Execute(ctx, noop), bulkhead.ErrFull)
		})
		assert.Equal(t, int64(1), oteltest.Point[int64](t, h, "palisade.rejected_calls", attrs...))

		require.Len(t, h.Spans.Ended(), 1)
		events := span.Events()
		require.Len(t, events, 1)
		assert.Equal(t, "palisade.rejected", events[0].Name)
		assert.ElementsMatch(t, attrs, events[0].Attributes)

		// MaxWait passing is a rejection too: the call gets ErrFull.
		require.ErrorIs(t, w.result(), bulkhead.ErrFull)
		assert.Equal(t, int64(2), oteltest.Point[int64](t, h, "palisade.rejected_calls", attrs...))
		assert.Len(t, h.Sum(t, "palisade.rejected_calls"), 1, "one attribute set")

		holder.finish()
		require.NoError(t, holder.result())
	})
}
