package breaker_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy/breaker"
)

// A permit from AllowContext remembers its context: the caller's
// cancellation counts neither way, as it would through Execute. It used to
// be judged against context.Background(), so that it counted as a success
// and closed a half-open breaker whose dependency had not answered.
func TestDoneRecognisesTheCallersCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{BreakDuration: time.Second, SuccessThreshold: 1, HalfOpenCalls: 1})
		time.Sleep(time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		p, err := b.AllowContext(ctx)
		require.NoError(t, err)
		cancel() // the caller gives up
		p.Done(fmt.Errorf("query: %w", ctx.Err()))
		assert.Equal(t, breaker.HalfOpen, b.State(), "a cancelled trial is no success")

		p, err = b.Allow()
		require.NoError(t, err, "the cancelled trial gave its permit back")
		p.Done(errDown)
		assert.Equal(t, breaker.Open, b.State())
	})
}

// A permit from Allow has no context to tell the caller's cancellation from
// another: an error matching context.Canceled counts neither way.
func TestDoneWithoutAContextIgnoresCanceled(t *testing.T) {
	t.Run("half-open", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := tripped(t, breaker.Config{BreakDuration: time.Second, SuccessThreshold: 1, HalfOpenCalls: 1})
			time.Sleep(time.Second)
			for range 3 {
				p, err := b.Allow()
				require.NoError(t, err, "the permit was given back")
				p.Done(fmt.Errorf("query: %w", context.Canceled))
				assert.Equal(t, breaker.HalfOpen, b.State())
			}
		})
	})
	t.Run("closed", func(t *testing.T) {
		b := newBreaker(t, breaker.Config{ConsecutiveFailures: 2})
		p, _ := b.Allow()
		p.Done(errDown)
		p, _ = b.Allow()
		p.Done(context.Canceled)
		m := b.Metrics()
		assert.Equal(t, 1, m.Calls, "no place in the window")
		assert.Equal(t, 1, m.ConsecutiveFailures, "the run of failures is kept")
		assert.Equal(t, int64(2), m.TotalCalls)
	})
}

// Done classifies an outcome exactly as Execute, with the same context,
// would: the same Metrics, and the same state, for every kind of outcome.
func TestDoneClassifiesAsExecute(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now())
	defer cancel2()
	contexts := map[string]context.Context{"live": context.Background(), "cancelled": cancelled, "expired": expired}
	errs := map[string]error{
		"nil":              nil,
		"failure":          errDown,
		"canceled":         context.Canceled,
		"wrapped canceled": fmt.Errorf("q: %w", context.Canceled),
		"deadline":         context.DeadlineExceeded,
		"rejected inside":  rejectedInside{},
		"ignored":          errInvalid,
		"not a failure":    errNotAFailure,
	}
	for cname, ctx := range contexts {
		for ename, callErr := range errs {
			t.Run(cname+"/"+ename, func(t *testing.T) {
				for _, halfOpen := range []bool{false, true} {
					synctest.Test(t, func(t *testing.T) {
						cfg := breaker.Config{
							WindowSize: 10, MinimumThroughput: 1, FailureRatio: 1,
							BreakDuration: time.Second, SuccessThreshold: 1, HalfOpenCalls: 1,
							IsIgnored: isInvalid,
							IsFailure: func(err error) bool { return err != errNotAFailure },
						}
						var viaExecute, viaDone *breaker.Breaker
						if halfOpen {
							viaExecute, viaDone = tripped(t, cfg), tripped(t, cfg)
							time.Sleep(time.Second)
						} else {
							viaExecute, viaDone = newBreaker(t, cfg), newBreaker(t, cfg)
						}
						_ = viaExecute.Execute(ctx, func(context.Context) error { return callErr })
						p, err := viaDone.AllowContext(ctx)
						require.NoError(t, err)
						p.Done(callErr)
						assert.Equal(t, viaExecute.Metrics(), viaDone.Metrics(), "half-open %v", halfOpen)
					})
				}
			})
		}
	}
}

type notAFailure struct{}

func (notAFailure) Error() string { return "not a failure" }

var errNotAFailure error = notAFailure{}

// Release gives a permit back without an outcome: the call counts neither
// way, a trial permit is free again, and the Permit is zeroed, so that
// Release again, or Done after it, does nothing.
func TestReleaseGivesThePermitBack(t *testing.T) {
	t.Run("half-open", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := tripped(t, breaker.Config{BreakDuration: time.Second, SuccessThreshold: 1, HalfOpenCalls: 1})
			time.Sleep(time.Second)
			p, err := b.Allow()
			require.NoError(t, err)
			_, err = b.Allow()
			require.ErrorIs(t, err, breaker.ErrOpen, "the only trial permit is taken")
			p.Release()
			p.Release() // zeroed: nothing
			p.Done(nil) // nothing either: no success closes the breaker
			assert.Equal(t, breaker.HalfOpen, b.State())
			q, err := b.Allow()
			require.NoError(t, err, "the permit was given back")
			q.Done(nil)
			assert.Equal(t, breaker.Closed, b.State())
			assert.Equal(t, int64(3), b.Metrics().TotalCalls, "the tripping call, the released one, the trial")
		})
	})
	t.Run("closed", func(t *testing.T) {
		b := newBreaker(t, breaker.Config{ConsecutiveFailures: 2})
		p, _ := b.Allow()
		p.Done(errDown)
		p, _ = b.Allow()
		p.Release()
		p.Done(errDown) // nothing
		m := b.Metrics()
		assert.Equal(t, breaker.Closed, m.State)
		assert.Equal(t, 1, m.Calls, "a released permit takes no place in the window")
		assert.Equal(t, 1, m.ConsecutiveFailures)
		assert.Equal(t, int64(2), m.TotalCalls)
		var zero breaker.Permit
		zero.Release() // nothing
	})
}

// Done twice on the same Permit records one outcome: the second call, like
// a Release after Done, finds the Permit zeroed.
func TestDoneTwiceRecordsOnce(t *testing.T) {
	b := newBreaker(t, breaker.Config{ConsecutiveFailures: 2})
	p, err := b.AllowContext(t.Context())
	require.NoError(t, err)
	p.Done(errDown)
	p.Done(errDown) // would open the breaker if counted
	p.Release()
	m := b.Metrics()
	assert.Equal(t, breaker.Closed, m.State)
	assert.Equal(t, 1, m.Calls)
	assert.Equal(t, int64(1), m.TotalCalls)
}
