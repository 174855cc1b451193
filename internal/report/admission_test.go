package report_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/otel/attribute"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

type owner struct{ n int }

// TestAdmissionReporters: disabled telemetry gives nil reporters, whose
// methods do nothing; enabled ones start their rejection series at 0 and
// observe their owner's gauges.
func TestAdmissionReporters(t *testing.T) {
	d := telemetry.Disabled()
	o := &owner{n: 7}
	rl := report.NewRateLimit(d, "r", "rate_limited", o, func(o *owner) int { return o.n })
	li := report.NewLimiter(d, "l", "concurrency_limited", o, func(o *owner) (int, int, int) { return o.n, 1, 2 })
	th := report.NewThrottle(d, "t", "throttled", o, func(*owner) float64 { return 0.5 })
	assert.Nil(t, rl)
	assert.Nil(t, li)
	assert.Nil(t, th)
	ctx := context.Background()
	rl.Inc(ctx)
	li.Rejected(ctx)
	li.LimitChanged(ctx, 1, 2)
	th.Inc(ctx)

	h := oteltest.New()
	rl = report.NewRateLimit(h.Telemetry, "r", "rate_limited", o, func(o *owner) int { return o.n })
	li = report.NewLimiter(h.Telemetry, "l", "concurrency_limited", o, func(o *owner) (int, int, int) { return o.n, 1, 2 })
	report.NewThrottle(h.Telemetry, "t", "throttled", o, func(*owner) float64 { return 0.5 })
	assert.Equal(t, int64(0), h.Total(t, "palisade.rejected_calls"))
	assert.Equal(t, int64(7), h.Total(t, "palisade.ratelimit.available"))
	assert.Equal(t, int64(7), h.Total(t, "palisade.limiter.limit"))
	assert.Equal(t, int64(1), h.Total(t, "palisade.limiter.inflight"))
	assert.Equal(t, int64(2), h.Total(t, "palisade.limiter.queued"))
	assert.NotNil(t, h.Metric(t, "palisade.throttle.reject_ratio"))
	span := h.InSpan(t, func(ctx context.Context) {
		rl.Inc(ctx)
		li.LimitChanged(ctx, 10, 20)
	})
	assert.Equal(t, int64(1), h.Total(t, "palisade.rejected_calls"))
	ev := span.Events()
	if assert.Len(t, ev, 2) {
		assert.Equal(t, "palisade.rejected", ev[0].Name)
		assert.Equal(t, "palisade.limiter.limit_change", ev[1].Name)
		assert.ElementsMatch(t, []attribute.KeyValue{
			attribute.String("palisade.policy.name", "l"),
			attribute.Int("palisade.limiter.previous_limit", 10),
			attribute.Int("palisade.limiter.limit", 20),
		}, ev[1].Attributes)
	}
}
