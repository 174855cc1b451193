package oteltest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHarnessReadsBackWhatTelemetryReports(t *testing.T) {
	h := oteltest.New()
	assert.Nil(t, h.Metric(t, "palisade.retry.retries"), "nothing reported yet")
	assert.Nil(t, h.Sum(t, "palisade.retry.retries"))

	users := report.NewRetry(h.Telemetry, "users", "retry_budget_exhausted")
	orders := report.NewRetry(h.Telemetry, "orders", "retry_budget_exhausted")
	span := h.InSpan(t, func(ctx context.Context) {
		users.Retrying(ctx, 2, time.Millisecond, errors.New("x"))
		users.Retrying(ctx, 3, time.Millisecond, errors.New("x"))
		orders.Retrying(ctx, 2, time.Millisecond, errors.New("x"))
	})

	m := h.Metric(t, "palisade.retry.retries")
	require.NotNil(t, m)
	assert.IsType(t, metricdata.Sum[int64]{}, m.Data)
	byName := map[string]int64{}
	for _, dp := range h.Sum(t, "palisade.retry.retries") {
		v, _ := dp.Attributes.Value("palisade.policy.name")
		byName[v.AsString()] = dp.Value
	}
	assert.Equal(t, map[string]int64{"users": 2, "orders": 1}, byName)
	assert.Equal(t, int64(3), h.Total(t, "palisade.retry.retries"))

	require.Len(t, span.Events(), 3, "the reporters added their events to InSpan's span")
	assert.Equal(t, "palisade.retry", span.Events()[0].Name)
	assert.Contains(t, span.Events()[0].Attributes, attribute.String("palisade.policy.name", "users"))
	assert.Len(t, h.Spans.Ended(), 1)
}

func TestHarnessesAreIndependent(t *testing.T) {
	a, b := oteltest.New(), oteltest.New()
	report.NewTimeout(a.Telemetry, "db").TimedOut(context.Background())
	assert.Equal(t, int64(1), a.Total(t, "palisade.timeout.timeouts"))
	assert.Nil(t, b.Metric(t, "palisade.timeout.timeouts"))
	assert.False(t, a.Telemetry.IsDisabled())
	assert.NotSame(t, telemetry.Default(), a.Telemetry)
}
