package report

import (
	"context"
	"reflect"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/palisade-go/palisade/internal/attrcache"
	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/telemetry"
)

// DurationBuckets returns the explicit bucket boundaries, in seconds, of
// palisade.pipeline.duration: 1 ms to 10 s, the range of calls to remote
// dependencies.
func DurationBuckets() []float64 {
	return []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// Pipeline reports the calls of one pipeline: a span per call and the
// palisade.pipeline.duration histogram. A nil *Pipeline reports
// nothing.
type Pipeline struct {
	tracer       trace.Tracer
	globalTracer bool // tracer is the global provider's delegate
	noSpans      bool // tracer is OTel's noop: its spans would record nothing
	spanName     string
	startOpts    []trace.SpanStartOption
	duration     metric.Float64Histogram
	okOpts       []metric.RecordOption
	failOpts     *attrcache.Cache
}

// NewPipeline returns the reporter of the pipeline called name, or nil when
// t is disabled.
func NewPipeline(t *telemetry.Telemetry, name string) *Pipeline {
	if t.IsDisabled() {
		return nil
	}
	nameAttr := semconv.PipelineNameKey.String(name)
	h, err := t.Meter().Float64Histogram(semconv.PipelineDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of calls through a palisade pipeline, rejections included."),
		metric.WithExplicitBucketBoundaries(DurationBuckets()...))
	handle(err)
	tracer := t.Tracer()
	return &Pipeline{
		tracer:       tracer,
		globalTracer: isGlobalTracer(tracer),
		noSpans:      isNoop(tracer),
		spanName:     name,
		startOpts: []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(nameAttr),
		},
		duration: h,
		okOpts:   []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(nameAttr))},
		failOpts: &attrcache.Cache{Base: []attribute.KeyValue{nameAttr}},
	}
}

// PipelineCall is one call in progress, from [Pipeline.Start] to
// [PipelineCall.End].
type PipelineCall struct {
	r     *Pipeline
	span  trace.Span
	start time.Time // zero when no metric SDK listens: the clock is not read
	// borrowed is set when span is the caller's, not one the pipeline
	// started: it is neither ended nor marked by the pipeline.
	borrowed bool
}

// Start starts the span of one call and returns the context carrying it.
func (r *Pipeline) Start(ctx context.Context) (context.Context, PipelineCall) {
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
		errType = telemetry.ErrorType(err)
		if !c.borrowed && c.span.IsRecording() {
			c.span.SetStatus(codes.Error, err.Error())
			c.span.SetAttributes(semconv.ErrorTypeKey.String(errType))
		}
	}
	if !c.start.IsZero() {
		d := time.Since(c.start).Seconds()
		if err == nil {
			c.r.duration.Record(ctx, d, c.r.okOpts...)
		} else {
			c.r.duration.Record(ctx, d, c.r.failOpts.Get(errType).Record...)
		}
	}
	if !c.borrowed {
		c.span.End()
	}
}

// isNoop reports whether tracer is OpenTelemetry's no-op tracer, whose
// spans record nothing and only carry their parent's span context along,
// which leaving the caller's context as it is does at no cost.
func isNoop(tracer trace.Tracer) bool {
	switch tracer.(type) {
	case noop.Tracer, *noop.Tracer:
		return true
	}
	return false
}

// isGlobalTracer reports whether tracer is one of OpenTelemetry's global
// delegating tracers, handed out by the global provider before the
// application sets its own: until then, its spans record nothing.
func isGlobalTracer(tracer trace.Tracer) bool {
	return reflect.TypeOf(tracer).String() == "*global.tracer"
}

// unsetTracerProvider is OpenTelemetry's global tracer provider as it is
// before any otel.SetTracerProvider: a delegate whose spans record nothing.
// Starting one still costs several allocations per call, which an
// application that never set up tracing should not pay; see
// globalTracingUnset. It is nil if a provider was already set when this
// package was initialized.
var unsetTracerProvider = func() trace.TracerProvider {
	tp := otel.GetTracerProvider()
	if reflect.TypeOf(tp).String() != "*global.tracerProvider" {
		return nil
	}
	return tp
}()

// globalTracingUnset reports whether no global tracer provider has been set
// yet, so that a span from the global provider would record nothing.
func globalTracingUnset() bool {
	return unsetTracerProvider != nil && otel.GetTracerProvider() == unsetTracerProvider
}
