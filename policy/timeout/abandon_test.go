package timeout_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// stubborn ignores its context: it returns err after d.
func stubborn(d time.Duration, err error) policy.Func {
	return func(context.Context) error {
		time.Sleep(d)
		return err
	}
}

func abandoning(d time.Duration, tel *telemetry.Telemetry) *timeout.Timeout {
	return timeout.Must(timeout.Config{Name: "pessimist", Duration: d, Abandon: true, Telemetry: tel})
}

func abandonedGauge(t *testing.T, h *oteltest.Harness) int64 {
	t.Helper()
	m := h.Metric(t, "palisade.timeout.abandoned")
	require.NotNil(t, m)
	points := m.Data.(metricdata.Sum[int64]).DataPoints
	require.Len(t, points, 1)
	name, _ := points[0].Attributes.Value("palisade.policy.name")
	assert.Equal(t, "pessimist", name.AsString())
	return points[0].Value
}

func TestAbandonReturnsAtTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		to := abandoning(time.Second, h.Telemetry)
		assert.Equal(t, policy.ConcurrentAttempts, to.AttemptMode())
		assert.Equal(t, policy.SequentialAttempts, newTimeout(time.Second).AttemptMode())
		assert.Equal(t, int64(0), abandonedGauge(t, h))

		start := time.Now()
		err := to.Execute(context.Background(), stubborn(5*time.Second, nil))
		assert.Equal(t, time.Second, time.Since(start), "the caller returns at the deadline")
		var te *timeout.Error
		require.ErrorAs(t, err, &te)
		assert.True(t, te.Abandoned)
		assert.ErrorIs(t, err, timeout.ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "abandoned")
		assert.Equal(t, int64(1), h.Count(t, "palisade.timeout.timeouts"))
		assert.Equal(t, 1, to.Abandoned())
		assert.Equal(t, int64(1), abandonedGauge(t, h))

		time.Sleep(4 * time.Second)
		synctest.Wait()
		assert.Equal(t, 0, to.Abandoned(), "the function has returned")
		assert.Equal(t, int64(0), abandonedGauge(t, h))
	})
}

func TestAbandonKeepsTheCooperativeOutcomes(t *testing.T) {
	boom := errors.New("boom")
	synctest.Test(t, func(t *testing.T) {
		to := abandoning(time.Second, telemetry.Disabled())
		// Returned before the deadline: unchanged.
		assert.Same(t, boom, to.Execute(context.Background(), stubborn(time.Millisecond, boom)))
		assert.NoError(t, to.Execute(context.Background(), stubborn(time.Millisecond, nil)))
		// A cooperative function ending at the deadline: a timeout
		// (abandoned or not: it returns as the caller does).
		err := to.Execute(context.Background(), waitForCtx)
		require.ErrorIs(t, err, timeout.ErrTimeout)
		synctest.Wait()
		assert.Equal(t, 0, to.Abandoned())

		// The caller cancels: its error, at once, and the function is
		// abandoned.
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		assert.Same(t, context.Canceled, to.Execute(ctx, stubborn(3*time.Second, nil)))
		assert.Equal(t, 100*time.Millisecond, time.Since(start))
		assert.Equal(t, 1, to.Abandoned())

		// The caller's deadline, earlier: its error, not ErrTimeout.
		ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err = to.Execute(ctx, stubborn(3*time.Second, nil))
		assert.Equal(t, context.DeadlineExceeded, err)
		assert.NotErrorIs(t, err, timeout.ErrTimeout)
		time.Sleep(3 * time.Second)
		assert.Equal(t, 0, to.Abandoned())
	})
}

// An inner bulkhead keeps an abandoned call's slot until the function
// really returns: capacity is never over-committed.
func TestAbandonedCallKeepsItsBulkheadSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := telemetry.Disabled()
		bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, Telemetry: tel})
		p := policy.NewPipeline("p", abandoning(time.Second, tel), bh).WithTelemetry(tel)

		err := p.Execute(context.Background(), stubborn(3*time.Second, nil))
		require.ErrorIs(t, err, timeout.ErrTimeout)
		assert.Equal(t, 1, bh.InFlight(), "the abandoned function still runs in its slot")
		assert.ErrorIs(t, p.Execute(context.Background(), stubborn(0, nil)), bulkhead.ErrFull)

		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Equal(t, 0, bh.InFlight())
		assert.NoError(t, p.Execute(context.Background(), stubborn(0, nil)))
	})
}

func TestAbandonGetReturnsNoValueOfAnAbandonedAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := telemetry.Disabled()
		p := policy.NewPipeline("p", abandoning(time.Second, tel)).WithTelemetry(tel)
		v, err := policy.Get(context.Background(), p, func(context.Context) (string, error) {
			time.Sleep(2 * time.Second)
			return "late", nil
		})
		assert.ErrorIs(t, err, timeout.ErrTimeout)
		assert.Equal(t, "", v)
		time.Sleep(time.Second)
	})
}

func TestAbandonPanicBeforeTheDeadlineReachesTheCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		to := abandoning(time.Second, telemetry.Disabled())
		assert.PanicsWithValue(t, "early", func() {
			_ = to.Execute(context.Background(), func(context.Context) error {
				time.Sleep(500 * time.Millisecond)
				panic("early")
			})
		})
		assert.Equal(t, 0, to.Abandoned())
	})
}

// A panic after the function was abandoned crashes the program (in a child
// process here), rather than vanish.
func TestAbandonPanicAfterTheDeadlineCrashes(t *testing.T) {
	if os.Getenv("TIMEOUT_LATE_PANIC") == "1" {
		to := abandoning(10*time.Millisecond, telemetry.Disabled())
		_ = to.Execute(context.Background(), func(context.Context) error {
			time.Sleep(50 * time.Millisecond)
			panic("late panic")
		})
		time.Sleep(10 * time.Second) // the crash comes first
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAbandonPanicAfterTheDeadlineCrashes$")
	cmd.Env = append(os.Environ(), "TIMEOUT_LATE_PANIC=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the child exited cleanly: %s", out)
	assert.Equal(t, 2, exit.ExitCode())
	assert.True(t, strings.Contains(string(out), "panic: late panic"), "%s", out)
}

// On the real clock: the caller returns at the deadline, and once the
// function ends no goroutine is left.
func TestAbandonLeavesNoGoroutineOnceTheFunctionEnds(t *testing.T) {
	to := abandoning(5*time.Millisecond, telemetry.Disabled())
	release := make(chan struct{})
	ended := make(chan struct{})
	start := time.Now()
	err := to.Execute(context.Background(), func(context.Context) error {
		defer close(ended)
		<-release // ignores its context
		return nil
	})
	require.ErrorIs(t, err, timeout.ErrTimeout)
	assert.Less(t, time.Since(start), 5*time.Second)
	close(release)
	<-ended
	goleak.VerifyNone(t)
	assert.Eventually(t, func() bool { return to.Abandoned() == 0 }, 5*time.Second, time.Millisecond)
}

// TestPanicCancelAbandonMatrix is the panic/cancel matrix of an abandoning
// Timeout (1s) around a function deaf to its context: the caller cancels,
// or a deadline — the caller's or the policy's — passes, before or during
// the function, or the function panics before the deadline; it checks what
// came back, when, the timeouts counted, and that the function ends and is
// no longer counted as abandoned.
func TestPanicCancelAbandonMatrix(t *testing.T) {
	for _, r := range []struct {
		name     string
		ctx      func() (context.Context, context.CancelFunc)
		fn       policy.Func
		err      error // the very value, unless timedOut
		timedOut bool
		panic    any
		elapsed  time.Duration
	}{
		{
			name: "cancel/before",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			fn:  func(context.Context) error { panic("a call nobody waits for is not started") },
			err: context.Canceled,
		},
		{
			name: "cancel/during",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(300*time.Millisecond, cancel)
				return ctx, cancel
			},
			fn: stubborn(2*time.Second, nil), err: context.Canceled, elapsed: 300 * time.Millisecond,
		},
		{
			name: "deadline/the caller's, earlier",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 400*time.Millisecond)
			},
			fn: stubborn(2*time.Second, nil), err: context.DeadlineExceeded, elapsed: 400 * time.Millisecond,
		},
		{name: "deadline/the policy's", fn: stubborn(2*time.Second, nil), timedOut: true, elapsed: time.Second},
		{name: "panic/before the deadline", fn: func(context.Context) error { time.Sleep(100 * time.Millisecond); panic("fn") }, panic: "fn", elapsed: 100 * time.Millisecond},
		{name: "success/before the deadline", fn: stubborn(100*time.Millisecond, nil), elapsed: 100 * time.Millisecond},
	} {
		t.Run(r.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := oteltest.New()
				to := abandoning(time.Second, h.Telemetry)
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if r.ctx != nil {
					ctx, cancel = r.ctx()
				}
				defer cancel()
				start := time.Now()
				var err error
				var panicked any
				func() {
					defer func() { panicked = recover() }()
					err = to.Execute(ctx, r.fn)
				}()
				if elapsed := time.Since(start); elapsed != r.elapsed {
					t.Fatalf("returned after %v, want %v", elapsed, r.elapsed)
				}
				switch {
				case r.panic != nil || panicked != nil:
					if panicked != r.panic {
						t.Fatalf("panicked with %v, want %v", panicked, r.panic)
					}
				case r.timedOut:
					if !errors.Is(err, timeout.ErrTimeout) {
						t.Fatalf("returned %v, want a timeout", err)
					}
				case err != r.err:
					t.Fatalf("returned %v, want %v", err, r.err)
				}
				var want int64
				if r.timedOut {
					want = 1
				}
				if n := h.Count(t, "palisade.timeout.timeouts"); n != want {
					t.Fatalf("palisade.timeout.timeouts = %d, want %d", n, want)
				}
				time.Sleep(5 * time.Second)
				synctest.Wait()
				if to.Abandoned() != 0 {
					t.Fatalf("%d abandoned functions still counted after they ended", to.Abandoned())
				}
			})
		})
	}
}
