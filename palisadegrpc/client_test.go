package palisadegrpc_test

import (
	"context"
	"errors"
	"strconv"
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
	"github.com/palisade-go/palisade/policy/hedge"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// failWith is a unary handler answering code, with pushback values in its
// trailer if any.
func failWith(code codes.Code, pushback ...string) func(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	return func(ctx context.Context, _ *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		if len(pushback) > 0 {
			md := metadata.MD{}
			for _, v := range pushback {
				md.Append(palisadegrpc.PushbackKey, v)
			}
			_ = grpc.SetTrailer(ctx, md)
		}
		return nil, status.Error(code, "scripted "+code.String())
	}
}

// TestClassification checks, for every status code a server can answer,
// what the policy is told, what a retry does with it for an idempotent
// method, what a default breaker counts, and that the caller gets the
// server's status error itself.
func TestClassification(t *testing.T) {
	cases := []struct {
		code     codes.Code
		class    palisadegrpc.Class // palisadegrpc.Success: the policy sees nil
		attempts int64              // with a 3-attempt retry, idempotent method
	}{
		{codes.Unavailable, palisadegrpc.Retryable, 3},
		{codes.ResourceExhausted, palisadegrpc.Retryable, 3},
		{codes.Aborted, palisadegrpc.Retryable, 3},
		{codes.DeadlineExceeded, palisadegrpc.Retryable, 3}, // the server's own, not the caller's
		{codes.Internal, palisadegrpc.Failure, 1},
		{codes.Unknown, palisadegrpc.Failure, 1},
		{codes.DataLoss, palisadegrpc.Failure, 1},
		{codes.InvalidArgument, palisadegrpc.Success, 1},
		{codes.NotFound, palisadegrpc.Success, 1},
		{codes.AlreadyExists, palisadegrpc.Success, 1},
		{codes.PermissionDenied, palisadegrpc.Success, 1},
		{codes.Unauthenticated, palisadegrpc.Success, 1},
		{codes.FailedPrecondition, palisadegrpc.Success, 1},
		{codes.OutOfRange, palisadegrpc.Success, 1},
		{codes.Unimplemented, palisadegrpc.Success, 1},
		{codes.Canceled, palisadegrpc.Ignored, 1}, // sent by the server, the caller's context alive
	}
	for _, tc := range cases {
		t.Run(tc.code.String(), func(t *testing.T) {
			e := &echo{unary: failWith(tc.code)}
			addr := startServer(t, e)
			rec := &recorder{}
			b := breaker.Must(breaker.Config{Telemetry: quiet})
			p := policy.NewPipeline("test", fastRetry(3, nil), b, rec).WithTelemetry(quiet)
			cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
				palisadegrpc.WithPolicy(p), palisadegrpc.WithIdempotent(methodUnary))))

			_, err := callUnary(t.Context(), cc)

			// The caller gets the server's status error, not a wrapper.
			require.Error(t, err)
			st, ok := status.FromError(err)
			require.True(t, ok)
			assert.Equal(t, tc.code, st.Code())
			assert.Equal(t, "scripted "+tc.code.String(), st.Message())
			if tc.class != palisadegrpc.Retryable {
				// Given up at once: exactly the error grpc-go returned.
				assert.NotErrorAs(t, err, new(*palisadegrpc.StatusError))
			}
			assert.Equal(t, tc.attempts, e.calls.Load(), "attempts")

			// What the policy was told.
			seen := rec.last()
			m := b.Metrics()
			if tc.class == palisadegrpc.Success {
				assert.NoError(t, seen)
				assert.Equal(t, 0, m.Failures)
				assert.Equal(t, 1, m.Calls, "a success in the breaker's window")
				return
			}
			se, ok := errors.AsType[*palisadegrpc.StatusError](seen)
			require.True(t, ok, "policy saw %v", seen)
			assert.Equal(t, tc.class, se.Class)
			assert.Equal(t, tc.code, se.Code())
			assert.Equal(t, tc.code, status.Code(seen))
			_, permanent := errors.AsType[*backoff.PermanentError](seen)
			assert.Equal(t, tc.class != palisadegrpc.Retryable, permanent, "permanent")
			if tc.class == palisadegrpc.Ignored {
				// Matching context.Canceled: a success for a breaker
				// without IsIgnored, as for any function's cancellation.
				assert.ErrorIs(t, seen, context.Canceled)
				assert.Equal(t, 0, m.Failures)
				return
			}
			assert.Equal(t, int(tc.attempts), m.Failures, "failures in the breaker's window")
			if tc.class == palisadegrpc.Retryable {
				// Out of attempts: the retry's error, the server's status
				// still found through it.
				assert.ErrorIs(t, err, retry.ErrExhausted)
			}
		})
	}
}

// TestClassifierOverride: WithClassifier decides instead of the default.
func TestClassifierOverride(t *testing.T) {
	e := &echo{unary: failWith(codes.NotFound)}
	addr := startServer(t, e)
	rec := &recorder{}
	cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(policy.NewPipeline("t", fastRetry(3, nil), rec).WithTelemetry(quiet)),
		palisadegrpc.WithIdempotent(methodUnary),
		palisadegrpc.WithClassifier(func(method string, st *status.Status) palisadegrpc.Class {
			assert.Equal(t, methodUnary, method)
			if st.Code() == codes.NotFound {
				return palisadegrpc.Retryable // eventually consistent reads, say
			}
			return palisadegrpc.DefaultClassifier(method, st)
		}))))
	_, err := callUnary(t.Context(), cc)
	assert.Equal(t, codes.NotFound, status.Code(err))
	assert.Equal(t, int64(3), e.calls.Load())
	assert.True(t, errors.Is(err, retry.ErrExhausted))
}

// TestNotIdempotentNeverRetried: a Retryable failure of a method not
// marked idempotent reaches the retry as permanent: one attempt, and the
// caller gets the status error unwrapped.
func TestNotIdempotentNeverRetried(t *testing.T) {
	e := &echo{unary: failWith(codes.Unavailable)}
	addr := startServer(t, e)
	rec := &recorder{}
	cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(policy.NewPipeline("t", fastRetry(3, nil), rec).WithTelemetry(quiet)),
		palisadegrpc.WithIdempotentFunc(func(m string) bool { return m == "/other/Method" }))))
	_, err := callUnary(t.Context(), cc)
	assert.Equal(t, int64(1), e.calls.Load())
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.NotErrorIs(t, err, retry.ErrExhausted)
	_, permanent := errors.AsType[*backoff.PermanentError](rec.last())
	assert.True(t, permanent)
}

// TestPushback covers the grpc-retry-pushback-ms trailer.
func TestPushback(t *testing.T) {
	cases := []struct {
		name     string
		values   []string
		attempts int64
		delay    time.Duration // of the retry, backoff 1ms
	}{
		{"positive", []string{"40"}, 2, 40 * time.Millisecond},
		{"zero", []string{"0"}, 2, time.Millisecond},
		{"absent", nil, 2, time.Millisecond},
		{"negative", []string{"-1"}, 1, 0},
		{"malformed", []string{"soon"}, 1, 0},
		{"fractional", []string{"1.5"}, 1, 0},
		{"overflowing", []string{"99999999999999999999"}, 1, 0},
		{"several", []string{"10", "20"}, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &echo{unary: failWith(codes.ResourceExhausted, tc.values...)}
			addr := startServer(t, e)
			var delays []time.Duration
			rec := &recorder{}
			cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
				palisadegrpc.WithPolicy(policy.NewPipeline("t", fastRetry(2, &delays), rec).WithTelemetry(quiet)),
				palisadegrpc.WithIdempotent(methodUnary))))
			_, err := callUnary(t.Context(), cc)
			assert.Equal(t, codes.ResourceExhausted, status.Code(err))
			assert.Equal(t, tc.attempts, e.calls.Load())
			if tc.attempts == 2 {
				require.Len(t, delays, 1)
				assert.Equal(t, tc.delay, delays[0])
				hint, ok := policy.RetryAfter(rec.last())
				assert.True(t, ok)
				if tc.delay > time.Millisecond {
					assert.Equal(t, tc.delay, hint)
				} else {
					assert.Zero(t, hint)
				}
			} else {
				assert.Empty(t, delays)
				_, permanent := errors.AsType[*backoff.PermanentError](rec.last())
				assert.True(t, permanent, "a pushback asking not to retry makes the failure permanent")
			}
		})
	}
}

// TestPushbackLongerThanMaxRetryAfter: the retry gives up at once on a
// pushback longer than it is willing to wait, with the status unchanged.
func TestPushbackLongerThanMaxRetryAfter(t *testing.T) {
	e := &echo{unary: failWith(codes.Unavailable, "3600000")}
	addr := startServer(t, e)
	r := retry.Must(retry.Config{MaxAttempts: 3, Telemetry: quiet}) // MaxRetryAfter 1s
	cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(r), palisadegrpc.WithIdempotent(methodUnary))))
	start := time.Now()
	_, err := callUnary(t.Context(), cc)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, int64(1), e.calls.Load())
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.NotErrorAs(t, err, new(*palisadegrpc.StatusError), "the server's error itself")
}

// blockUntilDone is a unary handler that answers only when its context
// ends.
func blockUntilDone(ctx context.Context, _ *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	<-ctx.Done()
	return nil, status.FromContextError(ctx.Err()).Err()
}

// TestCallerCancellation: the caller's cancellation counts neither way,
// and is not retried.
func TestCallerCancellation(t *testing.T) {
	started := make(chan struct{}, 1)
	e := &echo{unary: func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		started <- struct{}{}
		return blockUntilDone(ctx, in)
	}}
	addr := startServer(t, e)
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 1, Telemetry: quiet})
	rec := &recorder{}
	cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(policy.NewPipeline("t", fastRetry(3, nil), b, rec).WithTelemetry(quiet)),
		palisadegrpc.WithIdempotent(methodUnary))))
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-started
		cancel()
	}()
	_, err := callUnary(ctx, cc)
	assert.Equal(t, codes.Canceled, status.Code(err))
	assert.NotErrorAs(t, err, new(*palisadegrpc.StatusError))
	assert.Equal(t, int64(1), e.calls.Load())
	assert.True(t, palisadegrpc.IsIgnored(rec.last()))
	assert.ErrorIs(t, rec.last(), context.Canceled)
	m := b.Metrics()
	assert.Equal(t, breaker.Closed, m.State)
	assert.Equal(t, 0, m.Calls, "nothing in the window")
}

// TestCallerDeadline: the caller's own deadline is Ignored; a breaker
// given palisadegrpc.IsIgnored counts it neither way.
func TestCallerDeadline(t *testing.T) {
	e := &echo{unary: blockUntilDone}
	addr := startServer(t, e)
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 1, IsIgnored: palisadegrpc.IsIgnored, Telemetry: quiet})
	rec := &recorder{}
	cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(policy.NewPipeline("t", fastRetry(3, nil), b, rec).WithTelemetry(quiet)),
		palisadegrpc.WithIdempotent(methodUnary))))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := callUnary(ctx, cc)
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	assert.Equal(t, int64(1), e.calls.Load(), "not retried")
	se, ok := errors.AsType[*palisadegrpc.StatusError](rec.last())
	require.True(t, ok)
	assert.Equal(t, palisadegrpc.Ignored, se.Class)
	assert.ErrorIs(t, rec.last(), context.DeadlineExceeded)
	m := b.Metrics()
	assert.Equal(t, breaker.Closed, m.State)
	assert.Equal(t, 0, m.Calls)
}

// TestPolicyDeadline: a timeout policy's deadline, not the caller's, is a
// Retryable failure: counted, and retried for an idempotent method.
func TestPolicyDeadline(t *testing.T) {
	e := &echo{unary: blockUntilDone}
	addr := startServer(t, e)
	b := breaker.Must(breaker.Config{Telemetry: quiet})
	rec := &recorder{}
	to := timeout.Must(timeout.Config{Duration: 30 * time.Millisecond, Telemetry: quiet})
	cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(policy.NewPipeline("t", fastRetry(2, nil), b, to, rec).WithTelemetry(quiet)),
		palisadegrpc.WithIdempotent(methodUnary))))
	_, err := callUnary(t.Context(), cc)
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	// (Not always timeout.ErrTimeout: the server, which got the attempt's
	// deadline, may answer DEADLINE_EXCEEDED before the timeout's own timer
	// has fired, and the timeout then passes the error on unlabelled.)
	assert.ErrorIs(t, err, retry.ErrExhausted)
	assert.Equal(t, int64(2), e.calls.Load())
	se, ok := errors.AsType[*palisadegrpc.StatusError](rec.last())
	require.True(t, ok)
	assert.Equal(t, palisadegrpc.Retryable, se.Class)
	assert.Equal(t, 2, b.Metrics().Failures)
}

// TestBreakerOpensAndRejects: failures open the breaker; its rejections
// reach the caller as UNAVAILABLE, matching breaker.ErrOpen, with the
// remaining break as RetryAfter, and never reach the server.
func TestBreakerOpensAndRejects(t *testing.T) {
	e := &echo{unary: failWith(codes.Unavailable)}
	addr := startServer(t, e)
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 2, BreakDuration: time.Minute, Telemetry: quiet})
	cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(palisadegrpc.WithPolicy(b))))
	for range 2 {
		_, err := callUnary(t.Context(), cc)
		assert.Equal(t, codes.Unavailable, status.Code(err))
	}
	require.Equal(t, breaker.Open, b.State())
	_, err := callUnary(t.Context(), cc)
	assert.Equal(t, int64(2), e.calls.Load())
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.ErrorIs(t, err, breaker.ErrOpen)
	assert.ErrorIs(t, err, policy.ErrRejected)
	var pe *palisadegrpc.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, codes.Unavailable, pe.Code)
	d, ok := policy.RetryAfter(err)
	assert.True(t, ok)
	assert.Greater(t, d, 50*time.Second)
}

// TestRejectionCodes: the status codes given to policies' own errors.
func TestRejectionCodes(t *testing.T) {
	cases := []struct {
		err  error
		code codes.Code
	}{
		{fakeRejection{}, codes.ResourceExhausted},
		{context.Canceled, codes.Canceled},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{errors.New("fallback gave up"), codes.Unknown},
	}
	for _, tc := range cases {
		e := &echo{}
		addr := startServer(t, e)
		cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(palisadegrpc.WithPolicy(
			policyFunc(func(context.Context, policy.Func) error { return tc.err })))))
		_, err := callUnary(t.Context(), cc)
		assert.Equal(t, tc.code, status.Code(err), "%v", tc.err)
		assert.ErrorIs(t, err, tc.err)
		assert.Zero(t, e.calls.Load())
	}
}

type fakeRejection struct{}

func (fakeRejection) Error() string        { return "fake: rejected" }
func (fakeRejection) Is(target error) bool { return target == policy.ErrRejected }

// TestNoPolicy: without a policy, or when WithPolicyFunc gives none, calls
// pass through untouched.
func TestNoPolicy(t *testing.T) {
	e := &echo{unary: failWith(codes.Unavailable)}
	addr := startServer(t, e)
	var asked []string
	cc := dial(t, addr, grpc.WithChainUnaryInterceptor(
		palisadegrpc.UnaryClientInterceptor(),
		palisadegrpc.UnaryClientInterceptor(palisadegrpc.WithPolicyFunc(func(m string) policy.Policy {
			asked = append(asked, m)
			return nil
		}))))
	_, err := callUnary(t.Context(), cc)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, []string{methodUnary}, asked)
}

// TestSuccessReply: a successful call through retry → breaker → timeout
// gets its reply.
func TestSuccessReply(t *testing.T) {
	addr := startServer(t, &echo{})
	p := policy.NewPipeline("t", fastRetry(3, nil),
		breaker.Must(breaker.Config{Telemetry: quiet}),
		timeout.Must(timeout.Config{Duration: 5 * time.Second, Telemetry: quiet})).WithTelemetry(quiet)
	cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(palisadegrpc.WithPolicy(p))))
	out, err := callUnary(t.Context(), cc)
	require.NoError(t, err)
	assert.Equal(t, "hello", out.GetValue())
}

// TestRetryThenSuccess: the reply of the attempt that succeeded after
// failed ones reaches the caller, and the caller's trailer option still
// works.
func TestRetryThenSuccess(t *testing.T) {
	e := &echo{}
	e.unary = func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		n := e.calls.Load()
		_ = grpc.SetTrailer(ctx, metadata.Pairs("attempt", strconv.FormatInt(n, 10)))
		if n < 3 {
			return nil, status.Error(codes.Unavailable, "not yet")
		}
		return wrapperspb.String("third time"), nil
	}
	addr := startServer(t, e)
	cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(fastRetry(3, nil)), palisadegrpc.WithIdempotent(methodUnary))))
	var trailer metadata.MD
	out := new(wrapperspb.StringValue)
	err := cc.Invoke(t.Context(), methodUnary, wrapperspb.String("x"), out, grpc.Trailer(&trailer))
	require.NoError(t, err)
	assert.Equal(t, "third time", out.GetValue())
	assert.Equal(t, []string{"3"}, trailer.Get("attempt"))
}

// TestServiceConfigRetryNotStacked: when the channel's service config gives
// the method a retryPolicy, grpc-go retries each attempt itself, and
// palisade does not retry on top.
func TestServiceConfigRetryNotStacked(t *testing.T) {
	e := &echo{unary: failWith(codes.Unavailable)}
	addr := startServer(t, e)
	sc := `{"methodConfig": [{"name": [{"service": "` + serviceName + `"}],
		"retryPolicy": {"maxAttempts": 2, "initialBackoff": "0.001s", "maxBackoff": "0.001s",
			"backoffMultiplier": 1, "retryableStatusCodes": ["UNAVAILABLE"]}}]}`
	cc := dial(t, addr, grpc.WithDefaultServiceConfig(sc), grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(fastRetry(3, nil)), palisadegrpc.WithIdempotent(methodUnary))))
	_, err := callUnary(t.Context(), cc)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, int64(2), e.calls.Load(), "grpc-go's 2 attempts, not 2×3")
}

// TestOverlappingAttempts: a policy running attempts at once gets
// ErrOverlappingAttempts for the second, which never reaches the server.
func TestOverlappingAttempts(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var invoked atomic.Int64
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
		invoked.Add(1)
		entered <- struct{}{}
		<-release
		return nil
	}
	var second error
	hedge := policyFunc(func(ctx context.Context, fn policy.Func) error {
		first := make(chan error, 1)
		go func() { first <- fn(ctx) }()
		<-entered
		second = fn(ctx)
		close(release)
		return <-first
	})
	icpt := palisadegrpc.UnaryClientInterceptor(palisadegrpc.WithPolicy(hedge))
	err := icpt(t.Context(), methodUnary, wrapperspb.String("x"), new(wrapperspb.StringValue), nil, invoker)
	assert.NoError(t, err)
	assert.ErrorIs(t, second, palisadegrpc.ErrOverlappingAttempts)
	_, permanent := errors.AsType[*backoff.PermanentError](second)
	assert.True(t, permanent)
	assert.Equal(t, int64(1), invoked.Load())
}

// TestClassifierIgnored: an outcome a classifier calls Ignored is never
// retried, and a breaker given IsIgnored counts it neither way.
func TestClassifierIgnored(t *testing.T) {
	e := &echo{unary: failWith(codes.Unavailable)}
	addr := startServer(t, e)
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 1, IsIgnored: palisadegrpc.IsIgnored, Telemetry: quiet})
	cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(policy.NewPipeline("t", fastRetry(3, nil), b).WithTelemetry(quiet)),
		palisadegrpc.WithIdempotent(methodUnary),
		palisadegrpc.WithClassifier(func(string, *status.Status) palisadegrpc.Class { return palisadegrpc.Ignored }))))
	_, err := callUnary(t.Context(), cc)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.NotErrorAs(t, err, new(*palisadegrpc.StatusError), "the server's error itself")
	assert.Equal(t, int64(1), e.calls.Load())
	m := b.Metrics()
	assert.Equal(t, breaker.Closed, m.State)
	assert.Equal(t, 0, m.Calls)
	assert.Equal(t, int64(1), m.TotalCalls)
}

// TestHedgedUnaryCall: a hedge policy (declared concurrent) hedges an
// idempotent method against a real server — the caller's reply is the
// winner's — and sends any other method once.
func TestHedgedUnaryCall(t *testing.T) {
	var calls atomic.Int64
	e := &echo{unary: func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		if calls.Add(1) == 1 {
			select { // the first attempt is slow: the hedge wins
			case <-time.After(5 * time.Second):
			case <-ctx.Done():
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			return wrapperspb.String("slow"), nil
		}
		return wrapperspb.String("fast"), nil
	}}
	addr := startServer(t, e)
	h := hedge.Must(hedge.Config{Delay: 20 * time.Millisecond, MaxExtraRatio: 1, Telemetry: telemetry.Disabled()})

	cc := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(
		palisadegrpc.WithPolicy(h), palisadegrpc.WithIdempotent(methodUnary))))
	out, err := callUnary(t.Context(), cc)
	require.NoError(t, err)
	assert.Equal(t, "fast", out.GetValue(), "the winner's reply")
	assert.Equal(t, int64(2), calls.Load())

	calls.Store(0)
	notIdempotent := dial(t, addr, grpc.WithUnaryInterceptor(palisadegrpc.UnaryClientInterceptor(palisadegrpc.WithPolicy(h))))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = callUnary(ctx, notIdempotent)
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "the slow first attempt, not hedged")
	assert.Equal(t, int64(1), calls.Load(), "a method not marked idempotent is sent once")
}

// TestNotIdempotentCostsNothingUnderSequentialPolicies: the mark that keeps
// a hedge from hedging a method not marked idempotent is made only for a
// policy that may overlap attempts; under a sequential one, such a call
// costs no more than an idempotent one.
func TestNotIdempotentCostsNothingUnderSequentialPolicies(t *testing.T) {
	if testing.CoverMode() != "" || raceDetector {
		t.Skip("allocation counts are not meaningful under coverage or the race detector")
	}
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	p := policy.NewPipeline("p", breaker.Must(breaker.Config{Telemetry: telemetry.Disabled()})).WithTelemetry(telemetry.Disabled())
	plain := palisadegrpc.UnaryClientInterceptor(palisadegrpc.WithPolicy(p))
	idem := palisadegrpc.UnaryClientInterceptor(palisadegrpc.WithPolicy(p), palisadegrpc.WithIdempotent(methodUnary))
	req, reply := wrapperspb.String("x"), new(wrapperspb.StringValue)
	ctx := context.Background()
	idemAllocs := testing.AllocsPerRun(100, func() { _ = idem(ctx, methodUnary, req, reply, nil, invoker) })
	plainAllocs := testing.AllocsPerRun(100, func() { _ = plain(ctx, methodUnary, req, reply, nil, invoker) })
	assert.Equal(t, idemAllocs, plainAllocs)
}
