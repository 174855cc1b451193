package policy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/telemetry"
)

// histogram returns the data points of the named histogram, after
// checking its unit.
func histogram(t *testing.T, h *oteltest.Harness, name string) []metricdata.HistogramDataPoint[float64] {
	t.Helper()
	if m := h.Metric(t, name); m != nil {
		assert.Equal(t, "s", m.Unit)
	}
	return h.Histogram(t, name)
}

func attrs(kvs ...attribute.KeyValue) attribute.Set { return attribute.NewSet(kvs...) }

func TestPipelineSpanAndDurationOnSuccess(t *testing.T) {
	h := oteltest.New()
	p := policy.NewPipeline("users-api", passthrough{}).WithTelemetry(h.Telemetry)
	var inner trace.SpanContext
	require.NoError(t, p.Execute(context.Background(), func(ctx context.Context) error {
		inner = trace.SpanContextFromContext(ctx)
		return nil
	}))

	spans := h.Spans.Ended()
	require.Len(t, spans, 1)
	s := spans[0]
	assert.Equal(t, "users-api", s.Name())
	assert.Equal(t, trace.SpanKindInternal, s.SpanKind())
	assert.Equal(t, codes.Unset, s.Status().Code)
	assert.Contains(t, s.Attributes(), attribute.String("palisade.pipeline.name", "users-api"))
	assert.Equal(t, s.SpanContext().SpanID(), inner.SpanID(), "fn runs inside the pipeline's span")

	dps := histogram(t, h, "palisade.pipeline.duration")
	require.Len(t, dps, 1)
	assert.Equal(t, attrs(attribute.String("palisade.pipeline.name", "users-api")), dps[0].Attributes)
	assert.Equal(t, uint64(1), dps[0].Count)
	assert.Equal(t, report.DurationBuckets(), dps[0].Bounds)
}

func TestPipelineSpanAndDurationOnFailure(t *testing.T) {
	h := oteltest.New()
	p := policy.NewPipeline("users-api", passthrough{}, passthrough{}).WithTelemetry(h.Telemetry)
	err := p.Execute(context.Background(), func(context.Context) error { return rejection{} })
	require.Error(t, err)
	err = p.Execute(context.Background(), func(context.Context) error { return &customErr{"x"} })
	require.Error(t, err)

	spans := h.Spans.Ended()
	require.Len(t, spans, 2)
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Equal(t, "rejected", spans[0].Status().Description)
	assert.Contains(t, spans[0].Attributes(), attribute.String("error.type", "test_rejected"))
	assert.Contains(t, spans[1].Attributes(),
		attribute.String("error.type", "*policy_test.customErr"))

	dps := histogram(t, h, "palisade.pipeline.duration")
	got := map[attribute.Set]uint64{}
	for _, dp := range dps {
		got[dp.Attributes] = dp.Count
	}
	name := attribute.String("palisade.pipeline.name", "users-api")
	assert.Equal(t, map[attribute.Set]uint64{
		attrs(name, attribute.String("error.type", "test_rejected")):          1,
		attrs(name, attribute.String("error.type", "*policy_test.customErr")): 1,
	}, got)
}

func TestPipelineSpanEndsWhenFunctionPanics(t *testing.T) {
	h := oteltest.New()
	p := policy.NewPipeline("p", passthrough{}).WithTelemetry(h.Telemetry)
	assert.PanicsWithValue(t, "kaboom", func() {
		_ = p.Execute(context.Background(), func(context.Context) error { panic("kaboom") })
	})
	spans := h.Spans.Ended()
	require.Len(t, spans, 1)
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Contains(t, spans[0].Attributes(), attribute.String("error.type", "panic"))
}

func TestWithTelemetryReturnsCopy(t *testing.T) {
	h := oteltest.New()
	orig := policy.NewPipeline("p").WithTelemetry(telemetry.Disabled())
	withTel := orig.WithTelemetry(h.Telemetry)
	require.NoError(t, orig.Execute(context.Background(), func(context.Context) error { return nil }))
	assert.Empty(t, h.Spans.Ended(), "the original keeps its telemetry")
	require.NoError(t, withTel.Execute(context.Background(), func(context.Context) error { return nil }))
	assert.Len(t, h.Spans.Ended(), 1)
	assert.Equal(t, "p", withTel.Name())
}

func TestDisabledTelemetryRecordsNothing(t *testing.T) {
	h := oteltest.New()
	// A span in the caller's context stays the current span: no child is made.
	ctx, parent := h.TracerProvider.Tracer("test").Start(context.Background(), "caller")
	p := policy.NewPipeline("p", passthrough{}).WithTelemetry(telemetry.Disabled())
	var inner trace.SpanContext
	err := p.Execute(ctx, func(ctx context.Context) error {
		inner = trace.SpanContextFromContext(ctx)
		return errors.New("x")
	})
	require.EqualError(t, err, "x")
	parent.End()
	assert.Equal(t, parent.SpanContext().SpanID(), inner.SpanID())
	assert.Len(t, h.Spans.Ended(), 1)
	assert.Nil(t, histogram(t, h, "palisade.pipeline.duration"))
}

// globalsSet records that this process has set the global providers.
var globalsSet bool

// TestDefaultTelemetryFollowsGlobalProviders sets the process's global
// providers, so it is the only test in this package that does.
func TestDefaultTelemetryFollowsGlobalProviders(t *testing.T) {
	if globalsSet {
		t.Skip("OpenTelemetry's global delegation happens once per process: run with -count=1")
	}
	globalsSet = true
	before := policy.NewPipeline("built-before", passthrough{})

	h := oteltest.New()
	otel.SetMeterProvider(h.MeterProvider)
	otel.SetTracerProvider(h.TracerProvider)
	after := policy.NewPipeline("built-after", passthrough{})

	ok := func(context.Context) error { return nil }
	require.NoError(t, before.Execute(context.Background(), ok))
	require.NoError(t, after.Execute(context.Background(), ok))

	names := map[string]bool{}
	for _, dp := range histogram(t, h, "palisade.pipeline.duration") {
		v, _ := dp.Attributes.Value("palisade.pipeline.name")
		names[v.AsString()] = true
	}
	assert.Equal(t, map[string]bool{"built-before": true, "built-after": true}, names)
	var spanNames []string
	for _, s := range h.Spans.Ended() {
		spanNames = append(spanNames, s.Name())
	}
	assert.ElementsMatch(t, []string{"built-before", "built-after"}, spanNames)
}
