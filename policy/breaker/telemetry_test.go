package breaker_test

import (
	"context"
	"maps"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/telemetry"
)

// The breakers of these tests are all called "db".
var dbName = attribute.String("palisade.policy.name", "db")

// status returns palisade.breaker.status by state.
func status(t *testing.T, h *oteltest.Harness) map[string]int64 {
	t.Helper()
	return oteltest.ByAttributes[int64](t, h, "palisade.breaker.status", "palisade.breaker.state")
}

// transitions returns the palisade.breaker.transitions made, by
// "previous->state" (every legal one's series exists at 0 from the
// breaker's construction: those are left out).
func transitions(t *testing.T, h *oteltest.Harness) map[string]int64 {
	t.Helper()
	got := oteltest.ByAttributes[int64](t, h, "palisade.breaker.transitions", "palisade.breaker.previous_state", "palisade.breaker.state")
	maps.DeleteFunc(got, func(_ string, n int64) bool { return n == 0 })
	return got
}

func failureRatio(t *testing.T, h *oteltest.Harness) float64 {
	t.Helper()
	return oteltest.Point[float64](t, h, "palisade.breaker.failure_ratio", dbName)
}

// The instruments' units and kinds, and the name on every point.
func TestTelemetryInstruments(t *testing.T) {
	h := oteltest.New()
	b := breaker.Must(breaker.Config{Name: "db", Telemetry: h.Telemetry, ConsecutiveFailures: 1})
	_ = b.Execute(context.Background(), fail)
	for name, want := range map[string]struct {
		unit      string
		monotonic bool
	}{
		"palisade.breaker.status":      {"1", false},
		"palisade.breaker.transitions": {"{transition}", true},
		"palisade.rejected_calls":      {"{call}", true},
	} {
		m := h.Metric(t, name)
		require.NotNil(t, m, name)
		assert.Equal(t, want.unit, m.Unit, name)
		sum := m.Data.(metricdata.Sum[int64])
		assert.Equal(t, want.monotonic, sum.IsMonotonic, name)
		for _, dp := range sum.DataPoints {
			v, _ := dp.Attributes.Value("palisade.policy.name")
			assert.Equal(t, "db", v.AsString(), name)
		}
	}
	assert.Equal(t, "1", h.Metric(t, "palisade.breaker.failure_ratio").Unit)
}

func TestTelemetryStatusFromConstructionOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		b := breaker.Must(breaker.Config{Name: "db", Telemetry: h.Telemetry, BreakDuration: time.Second})
		assert.Equal(t, map[string]int64{"closed": 1, "open": 0, "half_open": 0, "isolated": 0}, status(t, h),
			"closed is reported before any call or transition")
		assert.Zero(t, failureRatio(t, h))

		run(t, b, 10, fail)
		assert.Equal(t, map[string]int64{"closed": 0, "open": 1, "half_open": 0, "isolated": 0}, status(t, h))
		b.Isolate()
		assert.Equal(t, map[string]int64{"closed": 0, "open": 0, "half_open": 0, "isolated": 1}, status(t, h))
		runtime.KeepAlive(b)
	})
}

func TestTelemetryTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		rec := &recorder{}
		b := breaker.Must(breaker.Config{Name: "db", Telemetry: h.Telemetry, ConsecutiveFailures: 1,
			BreakDuration: time.Second, SuccessThreshold: 1, OnStateChange: rec.onChange})
		assert.Empty(t, transitions(t, h))

		span := h.InSpan(t, func(ctx context.Context) {
			assert.Same(t, errDown, b.Execute(ctx, fail))
		})
		require.Len(t, span.Events(), 1)
		assert.Equal(t, "palisade.breaker.state_change", span.Events()[0].Name)
		assert.ElementsMatch(t, []attribute.KeyValue{
			attribute.String("palisade.policy.name", "db"),
			attribute.String("palisade.breaker.previous_state", "closed"),
			attribute.String("palisade.breaker.state", "open"),
		}, span.Events()[0].Attributes)
		assert.Equal(t, map[string]int64{"closed->open": 1}, transitions(t, h))

		// The break ends: collection reports half-open but, not being a call,
		// makes no transition and runs no callback.
		time.Sleep(time.Second)
		assert.Equal(t, int64(1), status(t, h)["half_open"])
		assert.Equal(t, map[string]int64{"closed->open": 1}, transitions(t, h))
		assert.Equal(t, []string{"closed->open"}, rec.got)

		// The next call observes it, in its span, then closes the breaker.
		span = h.InSpan(t, func(ctx context.Context) {
			require.NoError(t, b.Execute(ctx, ok))
		})
		var events []string
		for _, e := range span.Events() {
			assert.Equal(t, "palisade.breaker.state_change", e.Name)
			set := attribute.NewSet(e.Attributes...)
			prev, _ := set.Value("palisade.breaker.previous_state")
			state, _ := set.Value("palisade.breaker.state")
			events = append(events, prev.AsString()+"->"+state.AsString())
		}
		assert.Equal(t, []string{"open->half_open", "half_open->closed"}, events)
		assert.Equal(t, map[string]int64{"closed->open": 1, "open->half_open": 1, "half_open->closed": 1}, transitions(t, h))
		assert.Equal(t, []string{"closed->open", "open->half_open", "half_open->closed"}, rec.got)

		// State observes the end of a break too, without a span.
		run(t, b, 1, fail)
		time.Sleep(time.Second)
		assert.Equal(t, breaker.HalfOpen, b.State())
		assert.Equal(t, int64(2), transitions(t, h)["open->half_open"])
		runtime.KeepAlive(b)
	})
}

func TestTelemetryRejections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		b := breaker.Must(breaker.Config{Name: "db", Telemetry: h.Telemetry, ConsecutiveFailures: 1})
		assert.Zero(t, h.Total(t, "palisade.rejected_calls"))
		run(t, b, 1, fail)

		span := h.InSpan(t, func(ctx context.Context) {
			assert.ErrorIs(t, b.Execute(ctx, ok), breaker.ErrOpen)
		})
		attrs := []attribute.KeyValue{
			attribute.String("palisade.policy.type", "breaker"),
			attribute.String("palisade.policy.name", "db"),
			attribute.String("error.type", "circuit_open"),
		}
		require.Len(t, span.Events(), 1)
		assert.Equal(t, "palisade.rejected", span.Events()[0].Name)
		assert.ElementsMatch(t, attrs, span.Events()[0].Attributes)

		b.Isolate()
		_, err := b.Allow()
		require.ErrorIs(t, err, breaker.ErrOpen)
		span = h.InSpan(t, func(ctx context.Context) {
			_, err := b.AllowContext(ctx)
			require.ErrorIs(t, err, breaker.ErrOpen)
		})
		require.Len(t, span.Events(), 1, "AllowContext reports on the caller's span")
		assert.Equal(t, "palisade.rejected", span.Events()[0].Name)

		require.Len(t, h.Sum(t, "palisade.rejected_calls"), 1)
		assert.Equal(t, int64(3), oteltest.Point[int64](t, h, "palisade.rejected_calls", attrs...))
	})
}

func TestTelemetryFailureRatio(t *testing.T) {
	h := oteltest.New()
	b := breaker.Must(breaker.Config{Name: "db", Telemetry: h.Telemetry, WindowSize: 4, MinimumThroughput: 4, FailureRatio: 1})
	run(t, b, 1, ok)
	run(t, b, 3, fail)
	assert.Equal(t, 0.75, failureRatio(t, h))
	run(t, b, 2, ok) // replace the oldest two: the success and a failure
	assert.Equal(t, 0.5, failureRatio(t, h))
	runtime.KeepAlive(b)
}

func TestTelemetryFailureRatioOfATimeWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		b := breaker.Must(breaker.Config{Name: "db", Telemetry: h.Telemetry, WindowDuration: time.Minute})
		run(t, b, 3, ok)
		run(t, b, 1, fail)
		assert.Equal(t, 0.25, failureRatio(t, h))
		time.Sleep(time.Minute)
		assert.Zero(t, failureRatio(t, h), "forgotten")
		runtime.KeepAlive(b)
	})
}

func TestTelemetryRecordsNothingPerSuccess(t *testing.T) {
	for _, cfg := range []breaker.Config{{}, {WindowDuration: time.Minute}, {SlowCallDuration: time.Minute}} {
		h := oteltest.New()
		cfg.Name, cfg.Telemetry = "db", h.Telemetry
		b := breaker.Must(cfg)
		span := h.InSpan(t, func(ctx context.Context) {
			for range 100 {
				require.NoError(t, b.Execute(ctx, ok))
			}
			p, err := b.Allow()
			require.NoError(t, err)
			p.Done(nil)
		})
		assert.Empty(t, span.Events())
		assert.Zero(t, h.Total(t, "palisade.rejected_calls"))
		assert.Empty(t, transitions(t, h))
		runtime.KeepAlive(b)
	}
}

func TestTelemetryInAPipelineSpan(t *testing.T) {
	h := oteltest.New()
	b := breaker.Must(breaker.Config{Name: "db", Telemetry: h.Telemetry, ConsecutiveFailures: 1})
	p := policy.NewPipeline("users", b).WithTelemetry(h.Telemetry)
	_ = p.Execute(context.Background(), fail)
	_ = p.Execute(context.Background(), ok)
	ended := h.Spans.Ended()
	require.Len(t, ended, 2)
	require.Len(t, ended[0].Events(), 1)
	assert.Equal(t, "palisade.breaker.state_change", ended[0].Events()[0].Name)
	require.Len(t, ended[1].Events(), 1)
	assert.Equal(t, "palisade.rejected", ended[1].Events()[0].Name)
	assert.Contains(t, ended[1].Attributes(), attribute.String("error.type", "circuit_open"))
}

func TestDisabledTelemetryReportsNothing(t *testing.T) {
	h := oteltest.New()
	b := breaker.Must(breaker.Config{Telemetry: telemetry.Disabled(), ConsecutiveFailures: 1})
	span := h.InSpan(t, func(ctx context.Context) {
		_ = b.Execute(ctx, fail)
		_ = b.Execute(ctx, ok)
	})
	assert.Empty(t, span.Events())
}

// Counters whose series are known when the breaker is built start at 0, so
// that a backend's increase() and rate() see the first opening and the first
// rejection.
func TestTelemetrySeriesExistFromConstruction(t *testing.T) {
	h := oteltest.New()
	b := breaker.Must(breaker.Config{Name: "db", Telemetry: h.Telemetry})
	got := map[string]int64{}
	for _, dp := range h.Sum(t, "palisade.breaker.transitions") {
		from, _ := dp.Attributes.Value("palisade.breaker.previous_state")
		to, _ := dp.Attributes.Value("palisade.breaker.state")
		got[from.AsString()+"->"+to.AsString()] = dp.Value
	}
	assert.Equal(t, map[string]int64{
		"closed->open": 0, "open->half_open": 0, "half_open->open": 0, "half_open->closed": 0,
		"open->closed": 0, "isolated->closed": 0,
		"closed->isolated": 0, "open->isolated": 0, "half_open->isolated": 0,
	}, got)
	rejected := h.Sum(t, "palisade.rejected_calls")
	require.Len(t, rejected, 1)
	assert.Equal(t, attribute.NewSet(
		attribute.String("error.type", "circuit_open"),
		attribute.String("palisade.policy.name", "db"),
		attribute.String("palisade.policy.type", "breaker"),
	), rejected[0].Attributes)
	assert.Zero(t, rejected[0].Value)
	runtime.KeepAlive(b)
}
