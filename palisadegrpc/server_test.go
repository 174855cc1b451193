package palisadegrpc_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/palisade-go/palisade/palisadegrpc"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/timeout"
)

// serverWith starts e behind server interceptors running p, with the
// options opts.
func serverWith(t *testing.T, e *echo, opts ...palisadegrpc.Option) string {
	return startServer(t, e,
		grpc.ChainUnaryInterceptor(palisadegrpc.UnaryServerInterceptor(opts...)),
		grpc.ChainStreamInterceptor(palisadegrpc.StreamServerInterceptor(opts...)))
}

// pushbackOf returns the pushback trailer values of md.
func pushbackOf(md metadata.MD) []string { return md.Get(palisadegrpc.PushbackKey) }

// TestServerBulkheadSheds: a full bulkhead answers RESOURCE_EXHAUSTED with
// the configured pushback; the call in flight is unharmed.
func TestServerBulkheadSheds(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	e := &echo{unary: func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		close(entered)
		<-release
		return in, nil
	}}
	bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, Telemetry: quiet})
	addr := serverWith(t, e, palisadegrpc.WithPolicy(bh), palisadegrpc.WithRejectionPushback(1500*time.Microsecond))
	cc := dial(t, addr)

	first := make(chan error, 1)
	go func() {
		_, err := callUnary(context.Background(), cc)
		first <- err
	}()
	<-entered
	var trailer metadata.MD
	err := cc.Invoke(t.Context(), methodUnary, wrapperspb.String("x"), new(wrapperspb.StringValue), grpc.Trailer(&trailer))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Contains(t, status.Convert(err).Message(), "bulkhead full")
	assert.Equal(t, []string{"2"}, pushbackOf(trailer), "1.5ms rounded up")
	close(release)
	require.NoError(t, <-first)
	assert.Equal(t, int64(1), e.calls.Load())
	assert.Zero(t, bh.InFlight())
}

// TestServerRejectionWithoutPushback: without WithRejectionPushback, a
// rejection with no hint of its own carries no pushback.
func TestServerRejectionWithoutPushback(t *testing.T) {
	e := &echo{}
	addr := serverWith(t, e, palisadegrpc.WithPolicy(policyFunc(func(context.Context, policy.Func) error {
		return fakeRejection{}
	})))
	cc := dial(t, addr)
	var trailer metadata.MD
	err := cc.Invoke(t.Context(), methodUnary, wrapperspb.String("x"), new(wrapperspb.StringValue), grpc.Trailer(&trailer))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Empty(t, pushbackOf(trailer))
	assert.Zero(t, e.calls.Load())
}

// hintedRejection is a rejection with a RetryAfter hint, as a rate
// limiter's.
type hintedRejection struct{ d time.Duration }

func (hintedRejection) Error() string               { return "fake limiter: limited" }
func (hintedRejection) Is(target error) bool        { return target == policy.ErrRejected }
func (r hintedRejection) RetryAfter() time.Duration { return r.d }

// TestServerRejectionHint: a rejection's own RetryAfter is the pushback,
// whatever WithRejectionPushback says; an enormous one is capped.
func TestServerRejectionHint(t *testing.T) {
	for _, tc := range []struct {
		hint time.Duration
		want string
	}{
		{320 * time.Millisecond, "320"},
		{0, "0"},
		{time.Duration(1<<63 - 1), strconv.Itoa(1<<31 - 1)},
	} {
		addr := serverWith(t, &echo{},
			palisadegrpc.WithPolicy(policyFunc(func(context.Context, policy.Func) error { return hintedRejection{tc.hint} })),
			palisadegrpc.WithRejectionPushback(time.Second))
		cc := dial(t, addr)
		var trailer metadata.MD
		err := cc.Invoke(t.Context(), methodUnary, wrapperspb.String("x"), new(wrapperspb.StringValue), grpc.Trailer(&trailer))
		assert.Equal(t, codes.ResourceExhausted, status.Code(err))
		assert.Equal(t, []string{tc.want}, pushbackOf(trailer))
	}
}

// TestServerBreakerOpen: a server breaker around its own dependency, once
// open, answers UNAVAILABLE with the remaining break as pushback, without
// running the handler.
func TestServerBreakerOpen(t *testing.T) {
	e := &echo{unary: func(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		return nil, status.Error(codes.Unavailable, "database down")
	}}
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 1, BreakDuration: 10 * time.Second, Telemetry: quiet})
	addr := serverWith(t, e, palisadegrpc.WithPolicy(b))
	cc := dial(t, addr)
	_, err := callUnary(t.Context(), cc)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, "database down", status.Convert(err).Message(), "the handler's error, unchanged")
	require.Equal(t, breaker.Open, b.State())

	var trailer metadata.MD
	err = cc.Invoke(t.Context(), methodUnary, wrapperspb.String("x"), new(wrapperspb.StringValue), grpc.Trailer(&trailer))
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Contains(t, status.Convert(err).Message(), "circuit open")
	require.Len(t, pushbackOf(trailer), 1)
	ms, perr := strconv.Atoi(pushbackOf(trailer)[0])
	require.NoError(t, perr)
	assert.InDelta(t, 10000, ms, 1000)
	assert.Equal(t, int64(1), e.calls.Load())
}

// TestServerHandlerErrorsUnchanged: the handler's errors, status or not,
// reach the client as grpc-go answers them without palisade.
func TestServerHandlerErrorsUnchanged(t *testing.T) {
	for _, herr := range []error{
		status.Error(codes.NotFound, "no such user"),
		errors.New("plain error"),
		context.DeadlineExceeded,
	} {
		e := &echo{unary: func(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error) { return nil, herr }}
		bh := bulkhead.Must(bulkhead.Config{Telemetry: quiet})
		b := breaker.Must(breaker.Config{Telemetry: quiet})
		with := dial(t, serverWith(t, e, palisadegrpc.WithPolicy(policy.NewPipeline("srv", b, bh).WithTelemetry(quiet))))
		without := dial(t, startServer(t, e))
		_, err1 := callUnary(t.Context(), with)
		_, err2 := callUnary(t.Context(), without)
		assert.Equal(t, status.Convert(err2).Proto().String(), status.Convert(err1).Proto().String(), "%v", herr)
	}
}

// TestServerHandlerPanic: a panicking handler is not recovered by the
// interceptor: the panic goes on with its value, and the policies have
// released their slots and counted a failure.
func TestServerHandlerPanic(t *testing.T) {
	bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, Telemetry: quiet})
	b := breaker.Must(breaker.Config{Telemetry: quiet})
	p := policy.NewPipeline("srv", b, bh).WithTelemetry(quiet)
	unary := palisadegrpc.UnaryServerInterceptor(palisadegrpc.WithPolicy(p))
	info := &grpc.UnaryServerInfo{FullMethod: methodUnary}
	assert.PanicsWithValue(t, "handler bug", func() {
		_, _ = unary(t.Context(), wrapperspb.String("x"), info, func(context.Context, any) (any, error) {
			panic("handler bug")
		})
	})
	assert.Zero(t, bh.InFlight(), "slot released")
	assert.Equal(t, 1, b.Metrics().Failures)

	stream := palisadegrpc.StreamServerInterceptor(palisadegrpc.WithPolicy(p))
	assert.PanicsWithValue(t, "stream bug", func() {
		_ = stream(nil, fakeServerStream{t.Context()}, &grpc.StreamServerInfo{FullMethod: methodBidi},
			func(any, grpc.ServerStream) error { panic("stream bug") })
	})
	assert.Zero(t, bh.InFlight(), "slot released")
	assert.Equal(t, 2, b.Metrics().Failures)

	// The slot is usable again.
	resp, err := unary(t.Context(), wrapperspb.String("x"), info, func(_ context.Context, req any) (any, error) { return req, nil })
	require.NoError(t, err)
	assert.Equal(t, "x", resp.(*wrapperspb.StringValue).GetValue())
}

type fakeServerStream struct{ ctx context.Context }

func (s fakeServerStream) Context() context.Context   { return s.ctx }
func (fakeServerStream) SetHeader(metadata.MD) error  { return nil }
func (fakeServerStream) SendHeader(metadata.MD) error { return nil }
func (fakeServerStream) SetTrailer(metadata.MD)       {}
func (fakeServerStream) SendMsg(any) error            { return nil }
func (fakeServerStream) RecvMsg(any) error            { return nil }

// TestServerStreamBulkhead: a streaming handler holds its bulkhead slot for
// the stream's life; another stream is refused with RESOURCE_EXHAUSTED and
// the pushback in its trailer.
func TestServerStreamBulkhead(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	e := &echo{serverStream: func(in *wrapperspb.StringValue, s grpc.ServerStream) error {
		if err := s.SendMsg(in); err != nil {
			return err
		}
		close(entered)
		<-release
		return nil
	}}
	bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, Telemetry: quiet})
	addr := serverWith(t, e, palisadegrpc.WithPolicy(bh), palisadegrpc.WithRejectionPushback(100*time.Millisecond))
	cc := dial(t, addr)
	cs1, err := openServerStream(t.Context(), cc)
	require.NoError(t, err)
	<-entered
	cs2, err := openServerStream(t.Context(), cc)
	require.NoError(t, err)
	_, err = recvAll(cs2)
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, []string{"100"}, pushbackOf(cs2.Trailer()))
	close(release)
	got, err := recvAll(cs1)
	require.NoError(t, err)
	assert.Equal(t, []string{"hello"}, got)
}

// TestServerQueuedCallerGone: a call whose context ends while it waits in
// the bulkhead's queue is answered with its context's status
// (DEADLINE_EXCEEDED, CANCELLED), not RESOURCE_EXHAUSTED, and never runs.
func TestServerQueuedCallerGone(t *testing.T) {
	bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1, Telemetry: quiet})
	permit, err := bh.Acquire(t.Context())
	require.NoError(t, err)
	defer permit.Release()
	unary := palisadegrpc.UnaryServerInterceptor(palisadegrpc.WithPolicy(bh), palisadegrpc.WithRejectionPushback(time.Second))
	ran := false
	handler := func(context.Context, any) (any, error) {
		ran = true
		return nil, nil
	}
	info := &grpc.UnaryServerInfo{FullMethod: methodUnary}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err = unary(ctx, wrapperspb.String("x"), info, handler)
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))

	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = unary(ctx, wrapperspb.String("x"), info, handler)
	assert.Equal(t, codes.Canceled, status.Code(err))
	assert.False(t, ran)
}

// TestServerBreakerIsFailure: a server breaker given palisadegrpc.IsFailure
// counts the handler's answers about the request as successes, and its
// dependency's trouble as failures.
func TestServerBreakerIsFailure(t *testing.T) {
	var answer error
	e := &echo{unary: func(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error) { return nil, answer }}
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 2, IsFailure: palisadegrpc.IsFailure, Telemetry: quiet})
	cc := dial(t, serverWith(t, e, palisadegrpc.WithPolicy(b)))
	for _, answer = range []error{
		status.Error(codes.NotFound, "no such user"),
		status.Error(codes.InvalidArgument, "bad id"),
		status.Error(codes.NotFound, "no such user"),
	} {
		_, err := callUnary(t.Context(), cc)
		assert.Equal(t, status.Code(answer), status.Code(err))
	}
	assert.Equal(t, 0, b.Metrics().Failures)
	for _, answer = range []error{status.Error(codes.Unavailable, "db down"), errors.New("db: connection refused")} {
		_, _ = callUnary(t.Context(), cc)
	}
	assert.Equal(t, breaker.Open, b.State())
}

func TestIsFailure(t *testing.T) {
	for err, want := range map[error]bool{
		nil:                                      false,
		context.Canceled:                         false,
		context.DeadlineExceeded:                 true, // UNKNOWN: not a status
		errors.New("plain"):                      true,
		status.Error(codes.Unavailable, ""):      true,
		status.Error(codes.Internal, ""):         true,
		status.Error(codes.NotFound, ""):         false,
		status.Error(codes.PermissionDenied, ""): false,
		status.Error(codes.Canceled, ""):         false,
	} {
		assert.Equal(t, want, palisadegrpc.IsFailure(err), "%v", err)
	}
}

// TestServerTimeout: a server timeout policy's error, wrapping the
// handler's, reaches the client as DEADLINE_EXCEEDED.
func TestServerTimeout(t *testing.T) {
	e := &echo{unary: blockUntilDone}
	to := timeout.Must(timeout.Config{Duration: 20 * time.Millisecond, Telemetry: quiet})
	cc := dial(t, serverWith(t, e, palisadegrpc.WithPolicy(to)))
	_, err := callUnary(t.Context(), cc)
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
}
