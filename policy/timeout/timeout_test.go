package timeout_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTimeout(d time.Duration) *timeout.Timeout {
	return timeout.Must(timeout.Config{Duration: d, Telemetry: telemetry.Disabled()})
}

// waitForCtx is a cooperative function: it returns when its context ends.
func waitForCtx(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestDeadlineIsDurationAway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := newTimeout(2 * time.Second)
		start := time.Now()
		err := to.Execute(context.Background(), func(ctx context.Context) error {
			deadline, ok := ctx.Deadline()
			assert.True(t, ok)
			assert.Equal(t, start.Add(2*time.Second), deadline)
			return nil
		})
		require.NoError(t, err)
	})
}

func TestOwnDeadlineGivesErrTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := timeout.Must(timeout.Config{Name: "db", Duration: time.Second, Telemetry: telemetry.Disabled()})
		start := time.Now()
		var cause error
		err := to.Execute(context.Background(), func(ctx context.Context) error {
			err := waitForCtx(ctx)
			cause = context.Cause(ctx)
			return err
		})
		assert.Equal(t, time.Second, time.Since(start))
		assert.ErrorIs(t, err, timeout.ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, policy.ErrRejected)
		assert.ErrorIs(t, cause, timeout.ErrTimeout, "fn can tell the policy's deadline by context.Cause")

		var te *timeout.Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "db", te.Policy)
		assert.Equal(t, time.Second, te.Duration)
		assert.Equal(t, context.DeadlineExceeded, te.Err)
		assert.Equal(t, "timeout", te.ErrorType())
		assert.Equal(t, "timeout", telemetry.ErrorType(err))
		assert.True(t, te.Timeout())
		assert.Equal(t, "palisade/timeout: db: call exceeded 1s: context deadline exceeded", err.Error())
	})
}

func TestOwnDeadlineWrapsFunctionsError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := newTimeout(time.Second)
		ioErr := errors.New("read tcp: i/o timeout")
		err := to.Execute(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			return ioErr
		})
		assert.ErrorIs(t, err, timeout.ErrTimeout)
		assert.ErrorIs(t, err, ioErr, "the function's own error stays in the chain")
	})
}

func TestErrorBeforeDeadlineComesBackUnchanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := newTimeout(time.Second)
		want := errors.New("refused")
		err := to.Execute(context.Background(), func(context.Context) error {
			time.Sleep(500 * time.Millisecond)
			return want
		})
		assert.Same(t, want, err)
	})
}

func TestSuccessAfterDeadlineIsSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := newTimeout(time.Second)
		err := to.Execute(context.Background(), func(context.Context) error {
			time.Sleep(2 * time.Second) // ignores ctx, but succeeded: cooperative
			return nil
		})
		assert.NoError(t, err)
	})
}

func TestParentCancellationIsNotATimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := newTimeout(time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		err := to.Execute(ctx, waitForCtx)
		assert.Same(t, context.Canceled, err)
		assert.NotErrorIs(t, err, timeout.ErrTimeout)
	})
}

func TestEarlierParentDeadlineIsNotATimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := newTimeout(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := to.Execute(ctx, func(ctx context.Context) error {
			deadline, _ := ctx.Deadline()
			assert.Equal(t, start.Add(300*time.Millisecond), deadline)
			return waitForCtx(ctx)
		})
		assert.Equal(t, context.DeadlineExceeded, err)
		assert.NotErrorIs(t, err, timeout.ErrTimeout)
	})
}

func TestEqualParentDeadlineIsTheParents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := newTimeout(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := to.Execute(ctx, waitForCtx)
		assert.NotErrorIs(t, err, timeout.ErrTimeout)
	})
}

func TestLaterParentDeadlineStillTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := newTimeout(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := to.Execute(ctx, waitForCtx)
		assert.ErrorIs(t, err, timeout.ErrTimeout)
	})
}

func TestErrTimeoutMatchesDeadlineExceeded(t *testing.T) {
	assert.ErrorIs(t, timeout.ErrTimeout, context.DeadlineExceeded)
	assert.Equal(t, "timeout", telemetry.ErrorType(timeout.ErrTimeout))
}

func TestConfigValidation(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		_, err := timeout.New(timeout.Config{Duration: d})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Config.Duration")
		assert.PanicsWithError(t, err.Error(), func() { timeout.Must(timeout.Config{Duration: d}) })
	}
	to, err := timeout.New(timeout.Config{Duration: time.Second})
	require.NoError(t, err)
	assert.Equal(t, "timeout", to.Name())
	assert.Equal(t, time.Second, to.Duration())
}

func TestTelemetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		to := timeout.Must(timeout.Config{Name: "db-query", Duration: time.Second, Telemetry: h.Telemetry})
		p := policy.NewPipeline("users", to).WithTelemetry(h.Telemetry)
		require.Error(t, p.Execute(context.Background(), waitForCtx))
		require.NoError(t, p.Execute(context.Background(), func(context.Context) error { return nil }))

		m := h.Metric(t, "palisade.timeout.timeouts")
		if assert.NotNil(t, m, "palisade.timeout.timeouts recorded") {
			assert.Equal(t, "{timeout}", m.Unit)
			assert.True(t, m.Data.(metricdata.Sum[int64]).IsMonotonic)
			require.Len(t, h.Sum(t, "palisade.timeout.timeouts"), 1)
			assert.Equal(t, int64(1), oteltest.Point[int64](t, h, "palisade.timeout.timeouts", attribute.String("palisade.policy.name", "db-query")))
		}

		ended := h.Spans.Ended()
		require.Len(t, ended, 2)
		events := ended[0].Events()
		require.Len(t, events, 1)
		assert.Equal(t, "palisade.timeout", events[0].Name)
		assert.Equal(t, []attribute.KeyValue{attribute.String("palisade.policy.name", "db-query")}, events[0].Attributes)
		assert.Contains(t, ended[0].Attributes(), attribute.String("error.type", "timeout"))
		assert.Empty(t, ended[1].Events())
	})
}

// An inner policy's own rejection that happens to end after the deadline
// passed stays that rejection: wrapping it as a timeout would make a
// bulkhead's MaxWait expiry count as a timeout, and the pipeline report it
// as error.type "timeout" (seen in the soak, where 4 in 60,000 bulkhead
// rejections came back so).
func TestInnerRejectionAfterTheDeadlineIsNotATimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := timeout.Must(timeout.Config{Duration: time.Second, Telemetry: telemetry.Disabled()})
		rejection := fmt.Errorf("inner: %w", policy.ErrRejected)
		err := to.Execute(context.Background(), func(ctx context.Context) error {
			<-ctx.Done() // the deadline passes as the inner policy refuses
			return rejection
		})
		assert.Same(t, rejection, err)
		assert.False(t, errors.Is(err, timeout.ErrTimeout))

		// A rejection caused by the deadline (a bulkhead waiter whose
		// context ended) is this policy's timeout, and still a rejection.
		waitEnded := fmt.Errorf("gave up waiting: %w", errors.Join(policy.ErrRejected, context.DeadlineExceeded))
		err = to.Execute(context.Background(), func(ctx context.Context) error {
			<-ctx.Done()
			return waitEnded
		})
		assert.ErrorIs(t, err, timeout.ErrTimeout)
		assert.ErrorIs(t, err, policy.ErrRejected)
	})
}

func TestNilFuncPanicsNamingTheContract(t *testing.T) {
	to := timeout.Must(timeout.Config{Duration: time.Second, Telemetry: telemetry.Disabled()})
	assert.PanicsWithValue(t, "palisade/timeout: Execute called with a nil policy.Func", func() {
		_ = to.Execute(t.Context(), nil)
	})
}

// An error returned once the policy's deadline has passed is its timeout,
// even when the deadline's timer has yet to fire: a gRPC server timing the
// call out on the deadline the client sent it can answer first.
func TestErrorAtTheDeadlineIsATimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := timeout.Must(timeout.Config{Duration: time.Second, Telemetry: telemetry.Disabled()})
		serverSide := errors.New("rpc error: code = DeadlineExceeded")
		for i := range 200 {
			err := to.Execute(context.Background(), func(ctx context.Context) error {
				time.Sleep(time.Second) // wakes at the deadline's instant, maybe before its timer
				return serverSide
			})
			if !errors.Is(err, timeout.ErrTimeout) || !errors.Is(err, serverSide) {
				t.Fatalf("call %d: %v, want a timeout wrapping the server's error", i, err)
			}
		}
	})
}

// An abandoning timeout whose caller's deadline comes first never reports
// that deadline as its own timeout, even when the function returns at that
// very instant, before the caller's context has noticed (found by
// FuzzPipeline).
func TestAbandoningTimeoutLeavesTheCallersDeadlineToTheCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := timeout.Must(timeout.Config{Duration: time.Second, Abandon: true, Telemetry: telemetry.Disabled()})
		errFn := errors.New("fn")
		for i := range 200 {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			err := to.Execute(ctx, func(context.Context) error {
				time.Sleep(100 * time.Millisecond) // wakes at the caller's deadline
				return errFn
			})
			cancel()
			if errors.Is(err, timeout.ErrTimeout) {
				t.Fatalf("call %d: %v: the caller's deadline reported as the policy's timeout", i, err)
			}
		}
	})
}
