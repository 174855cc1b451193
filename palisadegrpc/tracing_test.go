package palisadegrpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/palisade-go/palisade/palisadegrpc"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

// TestTracingNesting checks, with otelgrpc's stats handlers on both sides,
// what nests under what: the caller's span → the client pipeline's span
// (palisade.retry events on it) → one otelgrpc client span per attempt →
// the otelgrpc server span → the server pipeline's span.
func TestTracingNesting(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tel := telemetry.New(telemetry.WithTracerProvider(tp))

	e := &echo{}
	e.unary = func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		if e.calls.Load() == 1 {
			return nil, status.Error(codes.Unavailable, "once")
		}
		return in, nil
	}
	serverPipeline := policy.NewPipeline("server", bulkhead.Must(bulkhead.Config{Telemetry: tel})).WithTelemetry(tel)
	addr := startServer(t, e,
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(propagation.TraceContext{}))),
		grpc.ChainUnaryInterceptor(palisadegrpc.UnaryServerInterceptor(palisadegrpc.WithPolicy(serverPipeline))),
		grpc.ChainStreamInterceptor(palisadegrpc.StreamServerInterceptor(palisadegrpc.WithPolicy(serverPipeline))))
	r := retry.Must(retry.Config{
		MaxAttempts: 2,
		BackOff:     func() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) },
		Telemetry:   tel,
	})
	clientPipeline := policy.NewPipeline("client", r).WithTelemetry(tel)
	cc := dial(t, addr,
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(propagation.TraceContext{}))),
		grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
			palisadegrpc.WithPolicy(clientPipeline), palisadegrpc.WithIdempotent(methodUnary))),
		grpc.WithStreamInterceptor(palisadegrpc.StreamClientInterceptor(palisadegrpc.WithPolicy(clientPipeline))))

	ctx, root := tp.Tracer("test").Start(t.Context(), "caller")
	_, err := callUnary(ctx, cc)
	require.NoError(t, err)
	cs, err := openServerStream(ctx, cc)
	require.NoError(t, err)
	_, err = recvAll(cs)
	require.NoError(t, err)
	root.End()
	// The stream's pipeline span ends on the policy's goroutine once the
	// first response is in: maybe just after the caller saw the stream end.
	require.Eventually(t, func() bool { return len(exp.GetSpans()) == 12 }, 5*time.Second, time.Millisecond)

	spans := exp.GetSpans()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	parentName := func(s tracetest.SpanStub) string { return byID[s.Parent.SpanID()].Name }
	count := map[string]int{}
	retried := 0
	for _, s := range spans {
		count[s.Name+" < "+parentName(s)]++
		if s.Name == "palisade.test.Echo/Unary" && s.SpanKind == trace.SpanKindClient {
			for _, ev := range byID[s.Parent.SpanID()].Events {
				if ev.Name == "palisade.retry" {
					retried++
				}
			}
		}
	}
	assert.Equal(t, 2, retried, "both attempts' spans are children of the span with the retry event")
	assert.Equal(t, map[string]int{
		"client < caller":                                                   2, // the unary call's pipeline, the stream's
		"palisade.test.Echo/Unary < client":                                 2, // a client span per attempt
		"palisade.test.Echo/ServerStream < client":                          1,
		"palisade.test.Echo/Unary < palisade.test.Echo/Unary":               2, // server spans
		"palisade.test.Echo/ServerStream < palisade.test.Echo/ServerStream": 1,
		"server < palisade.test.Echo/Unary":                                 2, // the server pipeline inside the server span
		"server < palisade.test.Echo/ServerStream":                          1,
		"caller < ": 1,
	}, count)
}
