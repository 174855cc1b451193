package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// DurationBuckets are the explicit bucket boundaries, in seconds, of
// palisade.pipeline.duration: 1 ms to 10 s, the range of calls to remote
// dependencies.
var DurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// PipelineReporter reports the calls of one pipeline: a span per call and the
// palisade.pipeline.duration histogram. A nil *PipelineReporter reports
// nothing.
type PipelineReporter struct {
	tracer       trace.Tracer
	globalTracer bool // tracer comes from the global provider
	noSpans      bool // tracer is OTel's noop: its spans would record nothing
	spanName     string
	startOpts    []trace.SpanStartOption
	duration     metric.Float64Histogram
	okOpts       []metric.RecordOption
	failOpts     *optionCache
}

// Pipeline returns the reporter of the pipeline called name, or nil when t is
// disabled.
func (t *Telemetry) Pipeline(name string) *PipelineReporter {
	t = t.orDefault()
	if t.disabled {
		return nil
	}
	nameAttr := pipelineNameKey.String(name)
	h, err := t.meter().Float64Histogram(pipelineDurationName,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of calls through a palisade pipeline, rejections included."),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	if err != nil {
		otel.Handle(err)
	}
	return &PipelineReporter{
		tracer:       t.tracer(),
		globalTracer: t.tracerProvider == nil,
		noSpans:      isNoop(t.tracerProvider),
		spanName:     name,
		startOpts: []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(nameAttr),
		},
		duration: h,
		okOpts:   []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(nameAttr))},
		failOpts: newOptionCache(nameAttr),
	}
}

// PipelineCall is one call in progress, from [PipelineReporter.Start] to
// [PipelineCall.End].
type PipelineCall struct {
	r     *PipelineReporter
	span  trace.Span
	start time.Time // zero when no metric SDK listens: the clock is not read
	// borrowed is set when span is the caller's, not one the pipeline
	// started: it is neither ended nor marked by the pipeline.
	borrowed bool
}

// Start starts the span of one call and returns the context carrying it.
func (r *PipelineReporter) Start(ctx context.Context) (context.Context, PipelineCall) {
	if r == nil {
		return ctx, PipelineCall{}
	}
	var c PipelineCall
	c.r = r
	if r.noSpans || r.globalTracer && globalTracingUnset() {
		// The span would record nothing: the caller's span, if any, stays
		// current, which is what a non-recording child would propagate.
		c.span = trace.SpanFromContext(ctx)
		c.borrowed = true
	} else {
		ctx, c.span = r.tracer.Start(ctx, r.spanName, r.startOpts...)
	}
	if r.duration.Enabled(ctx) {
		c.start = time.Now()
	}
	return ctx, c
}

// End ends the call with its final outcome: the span's status is Error with
// err's message and error.type when err is not nil, and the duration is
// recorded, with error.type on failure only. ctx is the one Start returned.
func (c PipelineCall) End(ctx context.Context, err error) {
	if c.r == nil {
		return
	}
	var errType string
	if err != nil {
		errType = ErrorType(err)
		if !c.borrowed && c.span.IsRecording() {
			c.span.SetStatus(codes.Error, err.Error())
			c.span.SetAttributes(errorTypeKey.String(errType))
		}
	}
	if !c.start.IsZero() {
		d := time.Since(c.start).Seconds()
		if err == nil {
			c.r.duration.Record(ctx, d, c.r.okOpts...)
		} else {
			c.r.duration.Record(ctx, d, c.r.failOpts.record(errType)...)
		}
	}
	if !c.borrowed {
		c.span.End()
	}
}
