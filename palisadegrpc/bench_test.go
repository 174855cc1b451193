package palisadegrpc_test

import (
	"context"
	"testing"
	"time"

	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	fsbreaker "github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafegrpc"
	fsretry "github.com/failsafe-go/failsafe-go/retrypolicy"
	fstimeout "github.com/failsafe-go/failsafe-go/timeout"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/palisade-go/palisade/palisadegrpc"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// The same pipeline on both sides, as in the benchmarks module: retry (3
// attempts) → breaker (50% of the last 100, after 10) → timeout (1s) →
// bulkhead (100), telemetry off.
func benchPipeline() *policy.Pipeline {
	off := telemetry.Disabled()
	return policy.NewPipeline("bench",
		retry.Must(retry.Config{Telemetry: off}),
		breaker.Must(breaker.Config{Telemetry: off}),
		timeout.Must(timeout.Config{Duration: time.Second, Telemetry: off}),
		bulkhead.Must(bulkhead.Config{MaxConcurrent: 100, Telemetry: off}),
	).WithTelemetry(off)
}

func failsafeInterceptor() grpc.UnaryClientInterceptor {
	return failsafegrpc.NewUnaryClientInterceptor[any](
		fsretry.NewBuilder[any]().WithMaxAttempts(3).WithBackoff(100*time.Millisecond, 10*time.Second).Build(),
		fsbreaker.NewBuilder[any]().WithFailureThresholdRatio(50, 100).WithDelay(time.Minute).Build(),
		fstimeout.New[any](time.Second),
		fsbulkhead.New[any](100),
	)
}

// BenchmarkUnaryInterceptor measures what an interceptor adds to a unary
// call, the call itself being an invoker that returns at once: the cost of
// the interceptor alone, next to failsafe-go's failsafegrpc with the same
// policies. The floor of any pipeline with a cooperative timeout is its
// context.WithDeadline.
func BenchmarkUnaryInterceptor(b *testing.B) {
	noop := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	req, reply := wrapperspb.String("hi"), new(wrapperspb.StringValue)
	bench := func(name string, icpt grpc.UnaryClientInterceptor) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				_ = icpt(ctx, methodUnary, req, reply, nil, noop)
			}
		})
	}
	bench("impl=none", func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	bench("impl=palisade/policy=none", palisadegrpc.UnaryClientInterceptor())
	bench("impl=palisade/policy=empty-pipeline", palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(policy.NewPipeline("empty").WithTelemetry(telemetry.Disabled()))))
	bench("impl=palisade/policy=retry+breaker+timeout+bulkhead", palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(benchPipeline()), palisadegrpc.WithIdempotent(methodUnary)))
	bench("impl=failsafegrpc/policy=retry+breaker+timeout+bulkhead", failsafeInterceptor())
}

// BenchmarkUnaryLoopback measures whole unary calls to a grpc-go server on
// 127.0.0.1 over TCP, bare and through each interceptor, in parallel on
// all cores.
func BenchmarkUnaryLoopback(b *testing.B) {
	addr := startServer(b, &echo{})
	bench := func(name string, opts ...grpc.DialOption) {
		b.Run(name, func(b *testing.B) {
			cc := dial(b, addr, opts...)
			if _, err := callUnary(context.Background(), cc); err != nil { // connect
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := wrapperspb.String("hi")
				for pb.Next() {
					if err := cc.Invoke(context.Background(), methodUnary, req, new(wrapperspb.StringValue)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	bench("impl=none")
	bench("impl=palisade/policy=retry+breaker+timeout+bulkhead", grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(benchPipeline()), palisadegrpc.WithIdempotent(methodUnary))))
	bench("impl=failsafegrpc/policy=retry+breaker+timeout+bulkhead", grpc.WithUnaryInterceptor(failsafeInterceptor()))
	// The same without the timeout: a deadline costs grpc-go a timer on
	// each side and a grpc-timeout header.
	off := telemetry.Disabled()
	bench("impl=palisade/policy=retry+breaker+bulkhead", grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(policy.NewPipeline("bench",
			retry.Must(retry.Config{Telemetry: off}),
			breaker.Must(breaker.Config{Telemetry: off}),
			bulkhead.Must(bulkhead.Config{MaxConcurrent: 100, Telemetry: off}),
		).WithTelemetry(off)), palisadegrpc.WithIdempotent(methodUnary))))
}

// BenchmarkServerInterceptor measures the server interceptor with a
// bulkhead around a handler that returns at once.
func BenchmarkServerInterceptor(b *testing.B) {
	info := &grpc.UnaryServerInfo{FullMethod: methodUnary}
	handler := func(_ context.Context, req any) (any, error) { return req, nil }
	req := wrapperspb.String("hi")
	for _, tc := range []struct {
		name string
		icpt grpc.UnaryServerInterceptor
	}{
		{"impl=none", func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(ctx, req)
		}},
		{"impl=palisade/policy=bulkhead", palisadegrpc.UnaryServerInterceptor(palisadegrpc.WithPolicy(
			bulkhead.Must(bulkhead.Config{MaxConcurrent: 100, Telemetry: telemetry.Disabled()})))},
		{"impl=failsafegrpc/policy=bulkhead", failsafegrpc.NewUnaryServerInterceptor[any](fsbulkhead.New[any](100))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				_, _ = tc.icpt(ctx, req, info, handler)
			}
		})
	}
}
