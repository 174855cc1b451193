package palisadegrpc_test

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
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

// streamClient dials addr with a stream interceptor running p, the
// streaming methods marked idempotent.
func streamClient(t *testing.T, addr string, p policy.Policy) *grpc.ClientConn {
	return dial(t, addr, grpc.WithStreamInterceptor(palisadegrpc.StreamClientInterceptor(
		palisadegrpc.WithPolicy(p), palisadegrpc.WithIdempotent(methodServerStream, methodBidi))))
}

// openServerStream starts a ServerStream call with "hello".
func openServerStream(ctx context.Context, cc *grpc.ClientConn) (grpc.ClientStream, error) {
	cs, err := cc.NewStream(ctx, serverStreamDesc, methodServerStream)
	if err != nil {
		return nil, err
	}
	if err := cs.SendMsg(wrapperspb.String("hello")); err != nil {
		return nil, err
	}
	return cs, cs.CloseSend()
}

// recvAll receives until the stream ends, and returns the values and the
// stream's final error (nil for an OK end).
func recvAll(cs grpc.ClientStream) ([]string, error) {
	var got []string
	for {
		m := new(wrapperspb.StringValue)
		err := cs.RecvMsg(m)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, m.GetValue())
	}
}

// TestStreamFirstResponse: a stream's policy covers its creation and first
// response only: a bulkhead frees its slot once the first message has
// arrived, while the stream goes on; the breaker counts one success.
func TestStreamFirstResponse(t *testing.T) {
	more := make(chan struct{})
	e := &echo{serverStream: func(in *wrapperspb.StringValue, s grpc.ServerStream) error {
		if err := s.SendMsg(wrapperspb.String("one")); err != nil {
			return err
		}
		<-more
		return s.SendMsg(wrapperspb.String("two"))
	}}
	addr := startServer(t, e)
	bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, Telemetry: quiet})
	b := breaker.Must(breaker.Config{Telemetry: quiet})
	cc := streamClient(t, addr, policy.NewPipeline("s", b, bh).WithTelemetry(quiet))

	cs, err := openServerStream(t.Context(), cc)
	require.NoError(t, err)
	first := new(wrapperspb.StringValue)
	require.NoError(t, cs.RecvMsg(first))
	assert.Equal(t, "one", first.GetValue())
	require.Eventually(t, func() bool { return bh.InFlight() == 0 }, 5*time.Second, time.Millisecond,
		"the slot is freed at the first response")
	// A second stream gets the slot while the first is open.
	cs2, err := openServerStream(t.Context(), cc)
	require.NoError(t, err)
	close(more)
	got, err := recvAll(cs)
	require.NoError(t, err)
	assert.Equal(t, []string{"two"}, got)
	got, err = recvAll(cs2)
	require.NoError(t, err)
	assert.Equal(t, []string{"one", "two"}, got)
	require.Eventually(t, func() bool { return b.Metrics().Calls == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, 0, b.Metrics().Failures)
}

// TestStreamRejectedByServer: a stream the server ends before any response
// (trailers only) is a failure for the breaker, and is not retried even for
// an idempotent method: the caller holds it and has sent on it.
func TestStreamRejectedByServer(t *testing.T) {
	e := &echo{serverStream: func(*wrapperspb.StringValue, grpc.ServerStream) error {
		return status.Error(codes.ResourceExhausted, "busy")
	}}
	addr := startServer(t, e)
	b := breaker.Must(breaker.Config{Telemetry: quiet})
	rec := &recorder{}
	cc := streamClient(t, addr, policy.NewPipeline("s", fastRetry(3, nil), b, rec).WithTelemetry(quiet))
	cs, err := openServerStream(t.Context(), cc)
	require.NoError(t, err)
	_, err = recvAll(cs)
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, "busy", status.Convert(err).Message())
	require.Eventually(t, func() bool { return b.Metrics().Failures == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int64(1), e.calls.Load())
	se, ok := errors.AsType[*palisadegrpc.StatusError](rec.last())
	require.True(t, ok)
	assert.Equal(t, palisadegrpc.Retryable, se.Class)
	_, permanent := errors.AsType[*backoff.PermanentError](rec.last())
	assert.True(t, permanent)
}

// TestStreamFailsAfterMessages: a stream that fails after delivering
// messages is never retried, and counts as the success of its first
// response.
func TestStreamFailsAfterMessages(t *testing.T) {
	e := &echo{serverStream: func(_ *wrapperspb.StringValue, s grpc.ServerStream) error {
		if err := s.SendMsg(wrapperspb.String("one")); err != nil {
			return err
		}
		return status.Error(codes.Unavailable, "going away")
	}}
	addr := startServer(t, e)
	b := breaker.Must(breaker.Config{Telemetry: quiet})
	cc := streamClient(t, addr, policy.NewPipeline("s", fastRetry(3, nil), b).WithTelemetry(quiet))
	cs, err := openServerStream(t.Context(), cc)
	require.NoError(t, err)
	got, err := recvAll(cs)
	assert.Equal(t, []string{"one"}, got)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, int64(1), e.calls.Load())
	require.Eventually(t, func() bool { return b.Metrics().Calls == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, 0, b.Metrics().Failures)
}

// TestBidiStream: a bidi stream through the interceptor echoes; one the
// server rejects is a failure.
func TestBidiStream(t *testing.T) {
	e := &echo{}
	addr := startServer(t, e)
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 1, BreakDuration: time.Minute, Telemetry: quiet})
	cc := streamClient(t, addr, policy.NewPipeline("s", b).WithTelemetry(quiet))
	cs, err := cc.NewStream(t.Context(), bidiDesc, methodBidi)
	require.NoError(t, err)
	for _, v := range []string{"a", "b", "c"} {
		require.NoError(t, cs.SendMsg(wrapperspb.String(v)))
		m := new(wrapperspb.StringValue)
		require.NoError(t, cs.RecvMsg(m))
		assert.Equal(t, v, m.GetValue())
	}
	require.NoError(t, cs.CloseSend())
	_, err = recvAll(cs)
	require.NoError(t, err)

	e.bidi = func(grpc.ServerStream) error { return status.Error(codes.Unavailable, "draining") }
	cs, err = cc.NewStream(t.Context(), bidiDesc, methodBidi)
	require.NoError(t, err)
	_, err = recvAll(cs)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	require.Eventually(t, func() bool { return b.State() == breaker.Open }, 5*time.Second, time.Millisecond)

	// Open: the next stream is refused at creation, synchronously.
	_, err = cc.NewStream(t.Context(), bidiDesc, methodBidi)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.ErrorIs(t, err, breaker.ErrOpen)
	assert.Equal(t, int64(2), e.calls.Load())
}

// TestStreamTimeoutCoversFirstResponse: a timeout policy bounds the wait
// for the first response, not the stream's life.
func TestStreamTimeoutCoversFirstResponse(t *testing.T) {
	t.Run("headers in time", func(t *testing.T) {
		e := &echo{serverStream: func(_ *wrapperspb.StringValue, s grpc.ServerStream) error {
			if err := s.SendHeader(metadata.Pairs("k", "v")); err != nil {
				return err
			}
			time.Sleep(150 * time.Millisecond) // well past the timeout
			return s.SendMsg(wrapperspb.String("late but fine"))
		}}
		addr := startServer(t, e)
		to := timeout.Must(timeout.Config{Duration: 50 * time.Millisecond, Telemetry: quiet})
		cc := streamClient(t, addr, policy.NewPipeline("s", to).WithTelemetry(quiet))
		cs, err := openServerStream(t.Context(), cc)
		require.NoError(t, err)
		got, err := recvAll(cs)
		require.NoError(t, err)
		assert.Equal(t, []string{"late but fine"}, got)
	})
	t.Run("no response in time", func(t *testing.T) {
		e := &echo{serverStream: func(_ *wrapperspb.StringValue, s grpc.ServerStream) error {
			<-s.Context().Done()
			return s.Context().Err()
		}}
		addr := startServer(t, e)
		to := timeout.Must(timeout.Config{Duration: 50 * time.Millisecond, Telemetry: quiet})
		b := breaker.Must(breaker.Config{Telemetry: quiet})
		cc := streamClient(t, addr, policy.NewPipeline("s", fastRetry(3, nil), b, to).WithTelemetry(quiet))
		cs, err := openServerStream(t.Context(), cc)
		require.NoError(t, err)
		_, err = recvAll(cs)
		assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
		require.Eventually(t, func() bool { return b.Metrics().Failures == 1 }, 5*time.Second, time.Millisecond)
		assert.Equal(t, int64(1), e.calls.Load(), "not retried")
	})
}

// TestStreamCallerCancels: a caller cancelling its stream before any
// response counts neither way, and leaves no goroutine behind (goleak).
func TestStreamCallerCancels(t *testing.T) {
	started := make(chan struct{})
	e := &echo{serverStream: func(_ *wrapperspb.StringValue, s grpc.ServerStream) error {
		close(started)
		<-s.Context().Done()
		return s.Context().Err()
	}}
	addr := startServer(t, e)
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 1, Telemetry: quiet})
	rec := &recorder{}
	cc := streamClient(t, addr, policy.NewPipeline("s", b, rec).WithTelemetry(quiet))
	ctx, cancel := context.WithCancel(t.Context())
	cs, err := openServerStream(ctx, cc)
	require.NoError(t, err)
	<-started
	cancel()
	_, err = recvAll(cs)
	assert.Equal(t, codes.Canceled, status.Code(err))
	require.Eventually(t, func() bool { return b.Metrics().TotalCalls == 1 }, 5*time.Second, time.Millisecond)
	assert.True(t, palisadegrpc.IsIgnored(rec.last()))
	m := b.Metrics()
	assert.Equal(t, 0, m.Calls)
	assert.Equal(t, breaker.Closed, m.State)
}

// fakeStream is a ClientStream whose headers arrive at once.
type fakeStream struct{ grpc.ClientStream }

func (fakeStream) Header() (metadata.MD, error) { return metadata.MD{}, nil }
func (fakeStream) RecvMsg(any) error            { return io.EOF }
func (fakeStream) Context() context.Context     { return context.Background() }
func (fakeStream) CloseSend() error             { return nil }
func (fakeStream) SendMsg(any) error            { return nil }
func (fakeStream) Trailer() metadata.MD         { return nil }

// TestStreamCreationRetried: a stream whose creation fails (no connection:
// UNAVAILABLE) is retried for an idempotent method, once for another.
func TestStreamCreationRetried(t *testing.T) {
	for _, idempotent := range []bool{true, false} {
		var tries atomic.Int64
		streamer := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			if tries.Add(1) < 3 {
				return nil, status.Error(codes.Unavailable, "no connection")
			}
			return fakeStream{}, nil
		}
		opts := []palisadegrpc.Option{palisadegrpc.WithPolicy(fastRetry(3, nil))}
		if idempotent {
			opts = append(opts, palisadegrpc.WithIdempotent(methodServerStream))
		}
		icpt := palisadegrpc.StreamClientInterceptor(opts...)
		cs, err := icpt(t.Context(), serverStreamDesc, nil, methodServerStream, streamer)
		if idempotent {
			require.NoError(t, err)
			assert.Equal(t, int64(3), tries.Load())
			assert.Equal(t, io.EOF, cs.RecvMsg(nil))
		} else {
			assert.Equal(t, codes.Unavailable, status.Code(err))
			assert.Equal(t, "no connection", status.Convert(err).Message())
			assert.Equal(t, int64(1), tries.Load())
		}
	}
}

// TestStreamPolicyPanics: a policy panicking before the stream is given
// out panics in the caller's goroutine, with the same value.
func TestStreamPolicyPanics(t *testing.T) {
	icpt := palisadegrpc.StreamClientInterceptor(palisadegrpc.WithPolicy(policyFunc(func(context.Context, policy.Func) error {
		panic("policy bug")
	})))
	assert.PanicsWithValue(t, "policy bug", func() {
		_, _ = icpt(t.Context(), serverStreamDesc, nil, methodServerStream,
			func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, ...grpc.CallOption) (grpc.ClientStream, error) {
				return fakeStream{}, nil
			})
	})
}

// TestStreamEndsWithoutResponse: a stream the server ends OK without
// headers or messages (Trailers-Only) is a success, judged by the caller's
// first RecvMsg.
func TestStreamEndsWithoutResponse(t *testing.T) {
	e := &echo{serverStream: func(*wrapperspb.StringValue, grpc.ServerStream) error { return nil }}
	addr := startServer(t, e)
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 1, Telemetry: quiet})
	rec := &recorder{}
	cc := streamClient(t, addr, policy.NewPipeline("s", b, rec).WithTelemetry(quiet))
	cs, err := openServerStream(t.Context(), cc)
	require.NoError(t, err)
	got, err := recvAll(cs)
	require.NoError(t, err)
	assert.Empty(t, got)
	require.Eventually(t, func() bool { return b.Metrics().Calls == 1 }, 5*time.Second, time.Millisecond)
	assert.NoError(t, rec.last())
	assert.Equal(t, breaker.Closed, b.State())
}

// TestStreamJudgedWithoutCallerReading: a stream's first response is
// judged even if the caller never reads it: a rejected stream frees its
// bulkhead slot and counts as a failure; a stream cut off by the
// connection's close ends its policy too (goleak checks that nothing
// hangs).
func TestStreamJudgedWithoutCallerReading(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	e := &echo{serverStream: func(in *wrapperspb.StringValue, s grpc.ServerStream) error {
		if in.GetValue() == "block" {
			select {
			case <-block:
			case <-s.Context().Done():
			}
			return nil
		}
		return status.Error(codes.ResourceExhausted, "busy")
	}}
	addr := startServer(t, e)
	bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, Telemetry: quiet})
	b := breaker.Must(breaker.Config{Telemetry: quiet})
	cc := streamClient(t, addr, policy.NewPipeline("s", b, bh).WithTelemetry(quiet))

	_, err := openServerStream(t.Context(), cc) // never read
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.Metrics().Failures == 1 }, 5*time.Second, time.Millisecond)
	assert.Zero(t, bh.InFlight())

	cs, err := cc.NewStream(t.Context(), serverStreamDesc, methodServerStream)
	require.NoError(t, err)
	require.NoError(t, cs.SendMsg(wrapperspb.String("block")))
	require.Equal(t, 1, bh.InFlight())
	require.NoError(t, cc.Close())
	require.Eventually(t, func() bool { return b.Metrics().TotalCalls == 2 }, 5*time.Second, time.Millisecond)
	assert.Zero(t, bh.InFlight())
	assert.Equal(t, 1, b.Metrics().Failures, "closing the connection (CANCELLED) is not the server's failure")
}
