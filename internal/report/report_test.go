package report_test

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDisabledHasNilReporters(t *testing.T) {
	d := telemetry.Disabled()
	assert.True(t, d.IsDisabled())
	assert.Nil(t, report.NewPipeline(d, "p"))
	assert.Nil(t, report.NewTimeout(d, "t"))
	assert.Nil(t, report.NewRetry(d, "r", "retry_budget_exhausted"))
	assert.Nil(t, d.Reporter("mine", "b", "mine_full"))
	owner := new(int)
	assert.Nil(t, report.NewBreaker(d, "b", []string{"closed"}, nil, "circuit_open", owner,
		func(*int) (int, float64) { panic("never observed") }))
	assert.Nil(t, report.NewBulkhead(d, "b", "bulkhead_full", owner,
		func(*int) (int, int, int) { panic("never observed") }))

	// Every method of a nil reporter is a no-op.
	ctx := context.Background()
	var pr *report.Pipeline
	ctx2, call := pr.Start(ctx)
	assert.Equal(t, ctx, ctx2)
	call.End(ctx, errors.New("x"))
	var tr *report.Timeout
	tr.TimedOut(ctx)
	var rr *report.Retry
	rr.Retrying(ctx, 2, 0, errors.New("x"))
	rr.Attempts(ctx, 3)
	rr.BudgetRejected(ctx)
	var br *report.Breaker
	br.StateChanged(ctx, 0, 1)
	br.Rejected(ctx)
	var c *report.Counter
	c.Inc(ctx)
	var mine *telemetry.Reporter
	mine.Rejected(ctx, errors.New("x"))
	mine.Event(ctx, "e")

	var nilTel *telemetry.Telemetry
	assert.False(t, nilTel.IsDisabled(), "a nil *Telemetry means Default")
	assert.False(t, telemetry.Default().IsDisabled())
	assert.False(t, telemetry.New().IsDisabled())
}

type fakeBreaker struct {
	state int
	ratio float64
}

func TestBreakerReporterObservesStateFromConstruction(t *testing.T) {
	h := oteltest.New()
	tel := h.Telemetry
	b := &fakeBreaker{state: 0, ratio: 0.25}
	r := report.NewBreaker(tel, "api", []string{"closed", "open"}, []report.Transition{{From: 1, To: 0}}, "circuit_open", b,
		func(b *fakeBreaker) (int, float64) { return b.state, b.ratio })
	require.NotNil(t, r)

	status := func() map[string]int64 {
		return oteltest.ByAttributes[int64](t, h, "palisade.breaker.status", "palisade.policy.name", "palisade.breaker.state")
	}
	assert.Equal(t, map[string]int64{"api->closed": 1, "api->open": 0}, status())
	b.state = 1
	assert.Equal(t, map[string]int64{"api->closed": 0, "api->open": 1}, status())

	assert.Equal(t, 0.25, oteltest.Point[float64](t, h, "palisade.breaker.failure_ratio", attribute.String("palisade.policy.name", "api")))

	tr := h.Sum(t, "palisade.breaker.transitions")
	require.Len(t, tr, 1, "the transition's series exists from construction")
	assert.Equal(t, int64(0), tr[0].Value)
	r.StateChanged(context.Background(), 1, 0)
	tr = h.Sum(t, "palisade.breaker.transitions")
	require.Len(t, tr, 1)
	assert.Equal(t, int64(1), tr[0].Value)
	assert.Equal(t, attribute.NewSet(
		attribute.String("palisade.policy.name", "api"),
		attribute.String("palisade.breaker.previous_state", "open"),
		attribute.String("palisade.breaker.state", "closed"),
	), tr[0].Attributes)
	runtime.KeepAlive(b)
}

func TestObservationEndsWhenPolicyIsUnreachable(t *testing.T) {
	h := oteltest.New()
	tel := h.Telemetry
	func() {
		b := &fakeBreaker{}
		report.NewBulkhead(tel, "gone", "bulkhead_full", b,
			func(*fakeBreaker) (int, int, int) { return 1, 2, 3 })
		require.NotNil(t, h.Metric(t, "palisade.bulkhead.usage"))
	}()
	runtime.GC()
	runtime.GC()
	if usage := h.Metric(t, "palisade.bulkhead.usage"); usage != nil {
		assert.Empty(t, usage.Data.(metricdata.Sum[int64]).DataPoints,
			"a collected bulkhead is no longer observed")
	}
}

func TestPipelineWithNoopTracerKeepsCallersSpan(t *testing.T) {
	for _, tp := range []trace.TracerProvider{noop.NewTracerProvider(), new(noop.TracerProvider)} {
		r := report.NewPipeline(telemetry.New(telemetry.WithTracerProvider(tp)), "p")
		parent := trace.SpanContextFromContext(context.Background())
		ctx, call := r.Start(context.Background())
		assert.Equal(t, parent, trace.SpanContextFromContext(ctx))
		call.End(ctx, errors.New("x"))
	}
}

// No global tracer provider is set in this package's tests: a pipeline
// reporting to the globals then starts no span, and the caller's span stays
// current (what a non-recording child would carry anyway).
func TestPipelineStartsNoSpanWhileGlobalTracerUnset(t *testing.T) {
	h := oteltest.New()
	h.InSpan(t, func(ctx context.Context) {
		callCtx, call := report.NewPipeline(telemetry.Default(), "p").Start(ctx)
		assert.Equal(t, trace.SpanFromContext(ctx), trace.SpanFromContext(callCtx))
		call.End(callCtx, errors.New("x"))
		assert.True(t, trace.SpanFromContext(ctx).IsRecording(), "the caller's span is not ended by the pipeline")
	})
	require.Len(t, h.Spans.Ended(), 1, "only the caller's span")
	assert.Equal(t, codes.Unset, h.Spans.Ended()[0].Status().Code, "the pipeline's outcome is not written on the caller's span")
}
