package retry_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestTelemetryRetries(t *testing.T) {
	h := oteltest.New()
	r := retry.Must(retry.Config{
		Name:        "users",
		MaxAttempts: 3,
		BackOff:     constant(time.Millisecond),
		Telemetry:   h.Telemetry,
	})
	span := h.InSpan(t, func(ctx context.Context) {
		rec := &recorder{errs: []error{errBoom, hintError{after: 20 * time.Millisecond}}}
		require.NoError(t, r.Execute(ctx, rec.fn))
	})

	// palisade.retry.retries counts the two retries, by policy name.
	points := h.Sum(t, "palisade.retry.retries")
	require.Len(t, points, 1)
	assert.EqualValues(t, 2, points[0].Value)
	assert.Equal(t, attribute.NewSet(attribute.String("palisade.policy.name", "users")), points[0].Attributes)

	// A palisade.retry event per retry, before its delay.
	var events []map[attribute.Key]attribute.Value
	for _, e := range span.Events() {
		if e.Name == "palisade.retry" {
			events = append(events, attrs(e.Attributes))
		}
	}
	require.Len(t, events, 2)
	for i, want := range []struct {
		attempt   int64
		delay     float64
		errorType string
	}{
		{2, 0.001, telemetry.ErrorType(errBoom)},
		{3, 0.020, telemetry.ErrorType(hintError{})},
	} {
		e := events[i]
		assert.Equal(t, "users", e["palisade.policy.name"].AsString())
		assert.Equal(t, want.attempt, e["palisade.retry.attempt"].AsInt64())
		assert.Equal(t, attribute.FLOAT64, e["palisade.retry.delay"].Type())
		assert.InDelta(t, want.delay, e["palisade.retry.delay"].AsFloat64(), 1e-12)
		assert.Equal(t, want.errorType, e["error.type"].AsString())
	}

	// Three attempts ran: the span says so.
	assert.Equal(t, int64(3), attrs(span.Attributes())["palisade.retry.attempts"].AsInt64())

	// Nothing was rejected.
	assert.Zero(t, h.Total(t, "palisade.rejected_calls"))
}

func TestTelemetrySingleAttempt(t *testing.T) {
	h := oteltest.New()
	r := retry.Must(retry.Config{MaxAttempts: 3, ShouldRetry: func(error) bool { return false }, Telemetry: h.Telemetry})
	for _, fn := range []policy.Func{
		func(context.Context) error { return nil },
		func(context.Context) error { return errBoom }, // not retried
	} {
		span := h.InSpan(t, func(ctx context.Context) { _ = r.Execute(ctx, fn) })
		assert.Empty(t, span.Events())
		assert.NotContains(t, attrs(span.Attributes()), attribute.Key("palisade.retry.attempts"))
	}
	assert.Zero(t, h.Total(t, "palisade.retry.retries"))
	assert.Len(t, h.Sum(t, "palisade.retry.retries"), 1, "the series exists from construction")
}

func TestTelemetryAttemptsOnPipelineSpan(t *testing.T) {
	h := oteltest.New()
	r := retry.Must(retry.Config{MaxAttempts: 4, BackOff: zero, Telemetry: h.Telemetry})
	p := policy.NewPipeline("users-api", r).WithTelemetry(h.Telemetry)
	err := p.Execute(t.Context(), failing(10).fn)
	require.ErrorIs(t, err, retry.ErrExhausted)

	ended := h.Spans.Ended()
	require.Len(t, ended, 1)
	span := ended[0]
	assert.Equal(t, "users-api", span.Name())
	a := attrs(span.Attributes())
	assert.Equal(t, int64(4), a["palisade.retry.attempts"].AsInt64(), "set on exhaustion too")
	assert.Equal(t, "retry_exhausted", a["error.type"].AsString())
	assert.Len(t, span.Events(), 3)
}

func TestTelemetryBudgetRejection(t *testing.T) {
	h := oteltest.New()
	r := retry.Must(retry.Config{
		Name:        "users",
		MaxAttempts: retry.Unlimited,
		BackOff:     zero,
		Budget:      budget.Must(budget.Config{MinExtra: 1}),
		Telemetry:   h.Telemetry,
	})
	span := h.InSpan(t, func(ctx context.Context) {
		require.ErrorIs(t, r.Execute(ctx, failing(10).fn), retry.ErrBudgetExhausted)
	})

	points := h.Sum(t, "palisade.rejected_calls")
	require.Len(t, points, 1)
	assert.EqualValues(t, 1, points[0].Value)
	want := attribute.NewSet(
		attribute.String("palisade.policy.type", "retry"),
		attribute.String("palisade.policy.name", "users"),
		attribute.String("error.type", "retry_budget_exhausted"),
	)
	assert.Equal(t, want, points[0].Attributes)

	var names []string
	for _, e := range span.Events() {
		names = append(names, e.Name)
		if e.Name == "palisade.rejected" {
			assert.Equal(t, want, attribute.NewSet(e.Attributes...))
		}
	}
	assert.Equal(t, []string{"palisade.retry", "palisade.rejected"}, names)
	assert.Equal(t, int64(2), attrs(span.Attributes())["palisade.retry.attempts"].AsInt64())

	retried := h.Sum(t, "palisade.retry.retries")
	require.Len(t, retried, 1)
	assert.EqualValues(t, 1, retried[0].Value, "the denied retry is not counted as a retry")
}

func TestTelemetryDisabled(t *testing.T) {
	r := retry.Must(retry.Config{
		BackOff:   zero,
		Budget:    budget.Must(budget.Config{MinExtra: 1}),
		Telemetry: telemetry.Disabled(),
	})
	assert.ErrorIs(t, r.Execute(t.Context(), failing(10).fn), retry.ErrBudgetExhausted)
}
