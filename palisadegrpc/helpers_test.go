package palisadegrpc_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

// The test service, described by hand: no protoc, wrapperspb messages.
const (
	serviceName        = "palisade.test.Echo"
	methodUnary        = "/palisade.test.Echo/Unary"
	methodServerStream = "/palisade.test.Echo/ServerStream"
	methodBidi         = "/palisade.test.Echo/Bidi"
)

// echo is the test service: each method runs the function a test set, or
// echoes.
type echo struct {
	calls        atomic.Int64 // handler runs, all methods
	unary        func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
	serverStream func(in *wrapperspb.StringValue, stream grpc.ServerStream) error
	bidi         func(stream grpc.ServerStream) error
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Unary",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			e := srv.(*echo)
			h := func(ctx context.Context, req any) (any, error) {
				e.calls.Add(1)
				if e.unary == nil {
					return in, nil
				}
				return e.unary(ctx, req.(*wrapperspb.StringValue))
			}
			if interceptor == nil {
				return h(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: methodUnary}, h)
		},
	}},
	Streams: []grpc.StreamDesc{
		{
			StreamName:    "ServerStream",
			ServerStreams: true,
			Handler: func(srv any, stream grpc.ServerStream) error {
				e := srv.(*echo)
				e.calls.Add(1)
				in := new(wrapperspb.StringValue)
				if err := stream.RecvMsg(in); err != nil {
					return err
				}
				if e.serverStream == nil {
					return stream.SendMsg(in)
				}
				return e.serverStream(in, stream)
			},
		},
		{
			StreamName:    "Bidi",
			ServerStreams: true,
			ClientStreams: true,
			Handler: func(srv any, stream grpc.ServerStream) error {
				e := srv.(*echo)
				e.calls.Add(1)
				if e.bidi != nil {
					return e.bidi(stream)
				}
				for {
					in := new(wrapperspb.StringValue)
					if err := stream.RecvMsg(in); err != nil {
						return nil // io.EOF: the client is done
					}
					if err := stream.SendMsg(in); err != nil {
						return err
					}
				}
			},
		},
	},
}

var (
	serverStreamDesc = &echoDesc.Streams[0]
	bidiDesc         = &echoDesc.Streams[1]
)

// startServer serves e on 127.0.0.1 over TCP with the server options
// opts, until the test ends, and returns its address.
func startServer(t testing.TB, e *echo, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&echoDesc, e)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})
	return lis.Addr().String()
}

// dial returns a client of addr with the dial options opts, closed when the
// test ends.
func dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	cc, err := grpc.NewClient(addr, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// callUnary calls the Unary method with "hello".
func callUnary(ctx context.Context, cc *grpc.ClientConn) (*wrapperspb.StringValue, error) {
	out := new(wrapperspb.StringValue)
	err := cc.Invoke(ctx, methodUnary, wrapperspb.String("hello"), out)
	return out, err
}

// policyFunc is a Policy made of a function.
type policyFunc func(ctx context.Context, fn policy.Func) error

func (p policyFunc) Execute(ctx context.Context, fn policy.Func) error { return p(ctx, fn) }

// recorder is a policy that runs its function once and records what the
// function returned, to show what the interceptor tells a policy.
type recorder struct {
	mu   sync.Mutex
	errs []error
}

func (r *recorder) Execute(ctx context.Context, fn policy.Func) error {
	err := fn(ctx)
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	return err
}

func (r *recorder) last() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) == 0 {
		return errors.New("recorder: no call")
	}
	return r.errs[len(r.errs)-1]
}

// quiet is telemetry that records nothing, for policies of tests that do
// not look at telemetry.
var quiet = telemetry.Disabled()

// fastRetry returns a retry of up to n attempts, 1ms apart, that records
// the delay of each retry in delays (if not nil).
func fastRetry(n int, delays *[]time.Duration) *retry.Retry {
	return retry.Must(retry.Config{
		MaxAttempts:   n,
		BackOff:       func() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) },
		MaxRetryAfter: time.Minute,
		OnRetry: func(_ int, _ error, d time.Duration) {
			if delays != nil {
				*delays = append(*delays, d)
			}
		},
		Telemetry: quiet,
	})
}
