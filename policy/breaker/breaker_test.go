package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/telemetry"
)

func TestFailureRatioThresholdIsInclusive(t *testing.T) {
	for _, tc := range []struct {
		ratio         float64
		window, fails int
	}{
		{0.5, 10, 5},
		{0.3, 10, 3}, // 0.3*10 is 3.0000000000000004 in floating point
		{0.1, 10, 1},
		{0.7, 10, 7},
		{1, 4, 4},
	} {
		t.Run(fmt.Sprint(tc.ratio), func(t *testing.T) {
			cfg := breaker.Config{FailureRatio: tc.ratio, WindowSize: tc.window, MinimumThroughput: tc.window}
			below := newBreaker(t, cfg)
			run(t, below, tc.window-tc.fails+1, ok)
			run(t, below, tc.fails-1, fail)
			assert.Equal(t, breaker.Closed, below.State(), "%d failures of %d", tc.fails-1, tc.window)

			at := newBreaker(t, cfg)
			run(t, at, tc.window-tc.fails, ok)
			run(t, at, tc.fails, fail)
			assert.Equal(t, breaker.Open, at.State(), "%d failures of %d reach %v", tc.fails, tc.window, tc.ratio)
		})
	}
}

func TestMinimumThroughputBoundary(t *testing.T) {
	b := newBreaker(t, breaker.Config{MinimumThroughput: 10})
	run(t, b, 9, fail)
	assert.Equal(t, breaker.Closed, b.State(), "9 calls, all failed, are below the minimum of 10")
	run(t, b, 1, fail)
	assert.Equal(t, breaker.Open, b.State(), "the 10th call reaches the minimum")
}

func TestSuccessNeverOpens(t *testing.T) {
	b := newBreaker(t, breaker.Config{MinimumThroughput: 10})
	run(t, b, 9, fail)
	run(t, b, 1, ok) // 9 of 10 failed: over the ratio, but a success decides nothing
	run(t, b, 1, fail)
	assert.Equal(t, breaker.Open, b.State(), "the next failure decides")
}

func TestCountWindowForgetsWhatSlidOut(t *testing.T) {
	b := newBreaker(t, breaker.Config{WindowSize: 10, MinimumThroughput: 10, FailureRatio: 0.5})
	run(t, b, 4, fail)
	run(t, b, 10, ok) // the 4 failures slide out
	m := b.Metrics()
	assert.Equal(t, 10, m.Calls)
	assert.Zero(t, m.Failures)
	run(t, b, 4, fail) // 4 of the last 10: had the window kept the first 4, 8 of 14
	m = b.Metrics()
	assert.Equal(t, breaker.Closed, m.State)
	assert.Equal(t, 10, m.Calls)
	assert.Equal(t, 4, m.Failures)
	assert.InDelta(t, 0.4, m.FailureRatio, 1e-9)
	assert.Equal(t, int64(18), m.TotalCalls)
	run(t, b, 1, fail)
	assert.Equal(t, breaker.Open, b.State(), "5 of the last 10")
}

func TestCountWindowAfterALongRunOfSuccesses(t *testing.T) {
	b := newBreaker(t, breaker.Config{WindowSize: 10, MinimumThroughput: 10})
	run(t, b, 1000, ok)
	run(t, b, 4, fail)
	m := b.Metrics()
	assert.Equal(t, 10, m.Calls)
	assert.Equal(t, 4, m.Failures)
	assert.Equal(t, int64(1004), m.TotalCalls)
	run(t, b, 6, ok)
	assert.Equal(t, 4, b.Metrics().Failures, "the failures are among the last 10")
	run(t, b, 1, ok)
	assert.Equal(t, 3, b.Metrics().Failures, "the oldest failure slid out")
	run(t, b, 3, ok)
	assert.Zero(t, b.Metrics().Failures)
	run(t, b, 1000, ok)
	run(t, b, 4, fail)
	run(t, b, 1, fail)
	assert.Equal(t, breaker.Open, b.State(), "5 of the last 10")
	assert.Equal(t, int64(2019), b.Metrics().TotalCalls)
}

func TestCountWindowOfOne(t *testing.T) {
	b := newBreaker(t, breaker.Config{WindowSize: 1, FailureRatio: 1})
	run(t, b, 5, ok)
	assert.Equal(t, 1, b.Metrics().Calls)
	run(t, b, 1, fail)
	assert.Equal(t, breaker.Open, b.State(), "MinimumThroughput defaults to the window size when smaller")
}

func TestTimeWindowForgetsOldBuckets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 10 buckets of 1s.
		b := newBreaker(t, breaker.Config{WindowDuration: 10 * time.Second, MinimumThroughput: 4, FailureRatio: 0.5})
		run(t, b, 3, fail) // bucket 0
		time.Sleep(5 * time.Second)
		run(t, b, 2, ok) // bucket 5
		m := b.Metrics()
		assert.Equal(t, 5, m.Calls)
		assert.Equal(t, 3, m.Failures)

		time.Sleep(5*time.Second - 1) // 9.999…s: bucket 9, bucket 0 still in the window
		assert.Equal(t, 5, b.Metrics().Calls)
		time.Sleep(1) // 10s: bucket 10 replaces bucket 0
		m = b.Metrics()
		assert.Equal(t, 2, m.Calls, "the failures of bucket 0 are forgotten after 10s")
		assert.Zero(t, m.Failures)
		assert.Equal(t, int64(5), m.TotalCalls)

		run(t, b, 1, fail)          // 1 of 3: would be 4 of 6 with bucket 0
		time.Sleep(5 * time.Second) // bucket 5 forgotten too
		run(t, b, 3, fail)
		m = b.Metrics()
		assert.Equal(t, breaker.Open, m.State, "4 failures in the window")
		assert.Equal(t, 4, m.Calls)
	})
}

func TestTimeWindowCountsEveryBucketInTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, breaker.Config{WindowDuration: time.Minute, MinimumThroughput: 10})
		for range 10 { // one call per 6s bucket, the whole window
			run(t, b, 1, ok)
			time.Sleep(6 * time.Second)
		}
		assert.Equal(t, 9, b.Metrics().Calls, "the first bucket was forgotten after 60s")
		run(t, b, 1, ok)
		assert.Equal(t, 10, b.Metrics().Calls)
		run(t, b, 9, fail) // 9 of 19
		run(t, b, 1, fail) // 10 of 20
		assert.Equal(t, breaker.Open, b.State())
	})
}

func TestTimeWindowReadsOneBucketFromManyCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, breaker.Config{WindowDuration: time.Second})
		run(t, b, 1000, ok)
		m := b.Metrics()
		assert.Equal(t, 1000, m.Calls)
		assert.Equal(t, int64(1000), m.TotalCalls)
		time.Sleep(time.Second)
		m = b.Metrics()
		assert.Zero(t, m.Calls)
		assert.Equal(t, int64(1000), m.TotalCalls, "forgotten by the window, not by the lifetime count")
	})
}

func TestSlowCallsAloneOpen(t *testing.T) {
	for _, cfg := range []breaker.Config{
		{WindowSize: 4},
		{WindowDuration: time.Minute},
	} {
		t.Run(fmt.Sprintf("window %d/%v", cfg.WindowSize, cfg.WindowDuration), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg.SlowCallDuration = time.Second
				cfg.SlowCallRatio = 0.5
				cfg.MinimumThroughput = 4
				b := newBreaker(t, cfg)
				run(t, b, 2, sleepThen(500*time.Millisecond, nil))
				run(t, b, 1, sleepThen(time.Second, nil)) // not longer than SlowCallDuration
				run(t, b, 1, sleepThen(3*time.Second, nil))
				m := b.Metrics()
				assert.Equal(t, breaker.Closed, m.State)
				assert.Equal(t, 1, m.SlowCalls)
				assert.Equal(t, 4, m.Calls)
				assert.Equal(t, 1250*time.Millisecond, m.AverageDuration)

				run(t, b, 1, sleepThen(2*time.Second, nil)) // 2 of 4 (or 5) slow, none failed
				m = b.Metrics()
				if cfg.WindowSize > 0 {
					assert.Equal(t, breaker.Open, m.State)
					assert.Equal(t, 0.5, m.SlowCallRatio)
				} else {
					assert.Equal(t, breaker.Closed, m.State, "2 of 5")
					run(t, b, 1, sleepThen(2*time.Second, nil)) // 3 of 6
					m = b.Metrics()
					assert.Equal(t, breaker.Open, m.State)
				}
				assert.Zero(t, m.Failures)
			})
		})
	}
}

func TestCallsAreTimedOnlyWithSlowCallDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, breaker.Config{})
		run(t, b, 3, sleepThen(time.Hour, nil))
		m := b.Metrics()
		assert.Zero(t, m.AverageDuration)
		assert.Zero(t, m.SlowCalls)
	})
}

func TestConsecutiveFailuresOpenRegardlessOfThroughput(t *testing.T) {
	b := newBreaker(t, breaker.Config{ConsecutiveFailures: 3, MinimumThroughput: 50, FailureRatio: 1})
	run(t, b, 2, fail)
	run(t, b, 1, ok) // breaks the run
	run(t, b, 2, fail)
	m := b.Metrics()
	assert.Equal(t, breaker.Closed, m.State)
	assert.Equal(t, 2, m.ConsecutiveFailures)
	run(t, b, 1, fail)
	assert.Equal(t, breaker.Open, b.State())
}

func TestOpenRejectsWithRemainingBreak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{Name: "users", BreakDuration: 30 * time.Second})
		time.Sleep(10 * time.Second)

		called := false
		err := b.Execute(context.Background(), func(context.Context) error { called = true; return nil })
		assert.False(t, called, "fn must not run")
		require.ErrorIs(t, err, breaker.ErrOpen)
		assert.ErrorIs(t, err, policy.ErrRejected)
		assert.Equal(t, "palisade/breaker: users: circuit open", err.Error())
		assert.Equal(t, "circuit_open", telemetry.ErrorType(err))
		d, ok := policy.RetryAfter(err)
		require.True(t, ok)
		assert.Equal(t, 20*time.Second, d)

		time.Sleep(5 * time.Second)
		d, _ = policy.RetryAfter(err)
		assert.Equal(t, 15*time.Second, d, "the remaining break when asked")
		assert.Equal(t, int64(1), b.Metrics().Rejected)
	})
}

func TestErrOpen(t *testing.T) {
	assert.ErrorIs(t, breaker.ErrOpen, policy.ErrRejected)
	assert.Equal(t, "circuit_open", telemetry.ErrorType(breaker.ErrOpen))
	_, ok := policy.RetryAfter(breaker.ErrOpen)
	assert.False(t, ok)
}

// The break ends at its exact instant for calls, whatever path rejects
// them.
func TestBreakEndsAtItsLastInstantForCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{BreakDuration: 30 * time.Second})
		openedAt := time.Now()
		for _, at := range []time.Duration{time.Second, 30*time.Second - 2*time.Millisecond, 30*time.Second - time.Millisecond, 30*time.Second - 1} {
			time.Sleep(at - time.Since(openedAt))
			require.ErrorIs(t, b.Execute(context.Background(), ok), breaker.ErrOpen, "%v into a 30s break", at)
		}
		time.Sleep(1)
		require.NoError(t, b.Execute(context.Background(), ok), "the trial call at the break's end")
	})
}

// Nothing outside a breaker holds it while it is open (no timer waits for
// its break to end): a breaker dropped while open for an hour is
// collected.
func TestOpenBreakerIsCollected(t *testing.T) {
	collected := make(chan struct{})
	func() {
		b := tripped(t, breaker.Config{BreakDuration: time.Hour})
		runtime.AddCleanup(b, func(c chan struct{}) { close(c) }, collected)
	}()
	for range 20 {
		runtime.GC()
		select {
		case <-collected:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("a dropped open breaker was not collected")
}

func TestBreakEndsAtItsLastInstantAndStateReportsHalfOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := tripped(t, breaker.Config{BreakDuration: 30 * time.Second, OnStateChange: rec.onChange})
		openedAt := time.Now()
		time.Sleep(30*time.Second - 1)
		assert.Equal(t, breaker.Open, b.State())
		time.Sleep(1)
		assert.Equal(t, breaker.HalfOpen, b.State(), "no call needed")
		assert.Equal(t, []string{"closed->open", "open->half_open"}, rec.got, "State observed the transition")

		time.Sleep(time.Minute)
		m := b.Metrics()
		assert.Equal(t, breaker.HalfOpen, m.State)
		assert.Equal(t, openedAt.Add(30*time.Second), m.StateSince, "half-open since the break ended")
	})
}

func TestHalfOpenSingleTrialCallWithHungProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{BreakDuration: time.Second, SuccessThreshold: 1, HalfOpenCalls: 1})
		time.Sleep(time.Second)

		release := make(chan struct{})
		probeDone := make(chan error)
		go func() {
			probeDone <- b.Execute(context.Background(), func(context.Context) error {
				<-release // hung
				return nil
			})
		}()
		synctest.Wait()
		assert.Equal(t, breaker.HalfOpen, b.State())

		for range 3 {
			time.Sleep(time.Hour) // however long the probe hangs
			called := false
			err := b.Execute(context.Background(), func(context.Context) error { called = true; return nil })
			assert.False(t, called)
			require.ErrorIs(t, err, breaker.ErrOpen)
			assert.ErrorIs(t, err, policy.ErrRejected)
			assert.Equal(t, "circuit_open", telemetry.ErrorType(err))
			_, hasHint := policy.RetryAfter(err)
			assert.False(t, hasHint, "no break ends at a known time")
		}
		_, err := b.Allow()
		assert.ErrorIs(t, err, breaker.ErrOpen)
		assert.Equal(t, int64(4), b.Metrics().Rejected)

		close(release)
		require.NoError(t, <-probeDone)
	})
}

func TestHalfOpenCallsAndSuccessThreshold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := tripped(t, breaker.Config{BreakDuration: time.Second, SuccessThreshold: 3, HalfOpenCalls: 2, OnStateChange: rec.onChange})
		time.Sleep(time.Second)
		p1, err := b.Allow()
		require.NoError(t, err)
		p2, err := b.Allow()
		require.NoError(t, err)
		_, err = b.Allow()
		require.ErrorIs(t, err, breaker.ErrOpen, "2 trial calls at once")

		p1.Done(nil)
		p3, err := b.Allow()
		require.NoError(t, err, "a finished trial call frees its place")
		p2.Done(nil)
		assert.Equal(t, breaker.HalfOpen, b.State(), "2 successes of 3")
		p3.Done(nil)
		m := b.Metrics()
		assert.Equal(t, breaker.Closed, m.State)
		assert.Zero(t, m.Calls, "trial calls do not enter the window; closing starts a fresh one")
		assert.Equal(t, int64(4), m.TotalCalls)
		assert.Equal(t, []string{"closed->open", "open->half_open", "half_open->closed"}, rec.got)
	})
}

func TestHalfOpenFailureReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{BreakDuration: time.Second})
		time.Sleep(time.Second)
		run(t, b, 2, ok)
		run(t, b, 1, fail)
		assert.Equal(t, breaker.Open, b.State())
		err := b.Execute(context.Background(), ok)
		d, _ := policy.RetryAfter(err)
		assert.Equal(t, time.Second, d, "a new break")
	})
}

func TestSlowTrialCallReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{BreakDuration: time.Second, SlowCallDuration: time.Second})
		time.Sleep(time.Second)
		run(t, b, 1, sleepThen(2*time.Second, nil))
		assert.Equal(t, breaker.Open, b.State(), "a slow trial call fails the trial")
	})
}

func TestWindowOfOpenBreakerIsTheOneThatOpenedIt(t *testing.T) {
	b := newBreaker(t, breaker.Config{WindowSize: 10, MinimumThroughput: 4})
	run(t, b, 2, ok)
	run(t, b, 2, fail)
	m := b.Metrics()
	assert.Equal(t, breaker.Open, m.State)
	assert.Equal(t, 4, m.Calls)
	assert.Equal(t, 0.5, m.FailureRatio)
	assert.Equal(t, 2, m.ConsecutiveFailures)
}

func TestLateResultsAreIgnored(t *testing.T) {
	for _, cfg := range []breaker.Config{
		{WindowSize: 10},
		{WindowDuration: 10 * time.Minute}, // every call in one bucket
	} {
		t.Run(fmt.Sprintf("window %d/%v", cfg.WindowSize, cfg.WindowDuration), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg.MinimumThroughput = 2
				cfg.BreakDuration = 10 * time.Second
				cfg.SuccessThreshold = 1
				b := newBreaker(t, cfg)

				// Two calls admitted while closed hang; one fails, one succeeds.
				var release, done [2]chan error
				for i, result := range []error{errDown, nil} {
					release[i], done[i] = make(chan error), make(chan error, 1)
					go func() {
						done[i] <- b.Execute(context.Background(), func(context.Context) error {
							<-release[i]
							return result
						})
					}()
				}
				synctest.Wait()
				run(t, b, 2, fail)
				require.Equal(t, breaker.Open, b.State())

				time.Sleep(5 * time.Second)
				close(release[0]) // the failure ends while open
				synctest.Wait()
				err := b.Execute(context.Background(), ok)
				d, _ := policy.RetryAfter(err)
				assert.Equal(t, 5*time.Second, d, "a late failure does not extend the break")

				time.Sleep(5 * time.Second)
				require.Equal(t, breaker.HalfOpen, b.State())
				close(release[1]) // the success ends while half-open
				synctest.Wait()
				m := b.Metrics()
				assert.Equal(t, breaker.HalfOpen, m.State, "a late success is no trial call")
				assert.Equal(t, 2, m.Calls, "nor does it enter the window")
				assert.Equal(t, 2, m.Failures)

				run(t, b, 1, ok) // a trial call
				m = b.Metrics()
				assert.Equal(t, breaker.Closed, m.State)
				assert.Zero(t, m.Calls)
				assert.Equal(t, int64(5), m.TotalCalls, "late calls ran: they are counted")
				assert.ErrorIs(t, <-done[0], errDown)
				assert.NoError(t, <-done[1])
			})
		})
	}
}

func TestLateTrialCallIsIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{BreakDuration: time.Second, SuccessThreshold: 1, HalfOpenCalls: 2})
		time.Sleep(time.Second)
		late, err := b.Allow() // a trial call that outlives its half-open period
		require.NoError(t, err)
		run(t, b, 1, fail) // another trial call fails: open again
		time.Sleep(time.Second)
		p, err := b.Allow()
		require.NoError(t, err)
		late.Done(nil)
		assert.Equal(t, breaker.HalfOpen, b.State(), "the late success is not a trial call of this period")
		_, err = b.Allow()
		require.NoError(t, err, "nor does it free a place: one of two is taken")
		_, err = b.Allow()
		require.ErrorIs(t, err, breaker.ErrOpen)
		p.Done(nil)
	})
}

func TestLateResultsDoNotEnterTheFreshWindow(t *testing.T) {
	for _, cfg := range []breaker.Config{
		{WindowSize: 10},
		{WindowDuration: time.Minute},
	} {
		t.Run(fmt.Sprintf("window %d/%v", cfg.WindowSize, cfg.WindowDuration), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBreaker(t, cfg)
				release := make(chan struct{})
				done := make(chan struct{}, 3)
				for _, result := range []error{errDown, nil, errDown} {
					go func() {
						_ = b.Execute(context.Background(), func(context.Context) error {
							<-release
							return result
						})
						done <- struct{}{}
					}()
				}
				synctest.Wait()
				b.Reset()
				close(release)
				for range 3 {
					<-done
				}
				m := b.Metrics()
				assert.Zero(t, m.Calls, "admitted before Reset")
				assert.Zero(t, m.ConsecutiveFailures)
				assert.Equal(t, int64(3), m.TotalCalls)
			})
		})
	}
}

func TestBreakDurationFuncBacksOffAndResetsOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var opens []int
		b := tripped(t, breaker.Config{
			SuccessThreshold: 1,
			BreakDurationFunc: func(n int) time.Duration {
				opens = append(opens, n)
				return time.Duration(n) * 10 * time.Second
			},
		})
		remaining := func() time.Duration {
			d, ok := policy.RetryAfter(b.Execute(context.Background(), ok))
			require.True(t, ok)
			return d
		}
		assert.Equal(t, 10*time.Second, remaining())
		time.Sleep(10 * time.Second)
		run(t, b, 1, fail) // trial call fails: 2nd opening in a row
		assert.Equal(t, 20*time.Second, remaining())
		time.Sleep(20 * time.Second)
		run(t, b, 1, fail)
		assert.Equal(t, 30*time.Second, remaining())
		time.Sleep(30 * time.Second)
		run(t, b, 1, ok) // closes: the count of openings starts again
		require.Equal(t, breaker.Closed, b.State())
		run(t, b, 1, fail)
		assert.Equal(t, 10*time.Second, remaining())
		assert.Equal(t, []int{1, 2, 3, 1}, opens)

		b.Reset()
		run(t, b, 1, fail)
		assert.Equal(t, []int{1, 2, 3, 1, 1}, opens, "Reset starts again too")
	})
}

func TestNegativeBreakDurationFuncResultEndsTheBreakAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := newBreaker(t, breaker.Config{
			ConsecutiveFailures: 1,
			BreakDurationFunc:   func(int) time.Duration { return -time.Second },
			OnStateChange:       rec.onChange,
		})
		run(t, b, 1, fail)
		assert.Equal(t, breaker.HalfOpen, b.State())
		assert.Equal(t, []string{"closed->open", "open->half_open"}, rec.got)
	})
}

func TestIsolateAndReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := newBreaker(t, breaker.Config{Name: "pay", OnStateChange: rec.onChange})
		run(t, b, 3, fail)
		b.Isolate()
		b.Isolate() // no-op
		assert.Equal(t, breaker.Isolated, b.State())
		time.Sleep(time.Hour)

		called := false
		err := b.Execute(context.Background(), func(context.Context) error { called = true; return nil })
		assert.False(t, called)
		require.ErrorIs(t, err, breaker.ErrOpen)
		assert.ErrorIs(t, err, policy.ErrRejected)
		assert.Equal(t, "palisade/breaker: pay: circuit isolated", err.Error())
		assert.Equal(t, "circuit_open", telemetry.ErrorType(err))
		_, hasHint := policy.RetryAfter(err)
		assert.False(t, hasHint)
		assert.Equal(t, breaker.Isolated, b.State(), "until Reset")

		b.Reset()
		m := b.Metrics()
		assert.Equal(t, breaker.Closed, m.State)
		assert.Zero(t, m.Calls, "Reset clears the window")
		assert.Zero(t, m.Failures)
		assert.Zero(t, m.ConsecutiveFailures)
		assert.Equal(t, int64(3), m.TotalCalls, "lifetime counts are kept")
		assert.Equal(t, int64(1), m.Rejected)
		assert.Equal(t, time.Now(), m.StateSince)
		assert.Equal(t, []string{"closed->isolated", "isolated->closed"}, rec.got)
		run(t, b, 1, ok)
	})
}

func TestCallsEndingWhileIsolatedAreIgnored(t *testing.T) {
	for _, cfg := range []breaker.Config{{WindowSize: 10}, {WindowDuration: time.Minute}} {
		synctest.Test(t, func(t *testing.T) {
			b := newBreaker(t, cfg)
			run(t, b, 2, ok)
			release := make(chan struct{})
			done := make(chan error)
			go func() {
				done <- b.Execute(context.Background(), func(context.Context) error {
					<-release
					return nil
				})
			}()
			synctest.Wait()
			b.Isolate()
			close(release)
			require.NoError(t, <-done)
			m := b.Metrics()
			assert.Equal(t, 2, m.Calls, "the window is as Isolate found it")
			assert.Equal(t, int64(3), m.TotalCalls)
		})
	}
}

func TestIsolateAndResetObserveTheEndOfABreak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := tripped(t, breaker.Config{BreakDuration: time.Second, OnStateChange: rec.onChange})
		time.Sleep(time.Second)
		b.Isolate()
		b.Reset()
		b.Reset() // closed already: no transition
		assert.Equal(t, []string{
			"closed->open", "open->half_open", "half_open->isolated", "isolated->closed",
		}, rec.got)
	})
}

func TestResetClosesAnOpenBreaker(t *testing.T) {
	b := tripped(t, breaker.Config{})
	b.Reset()
	run(t, b, 1, ok)
}

func TestErrorsComeBackUnchanged(t *testing.T) {
	b := newBreaker(t, breaker.Config{})
	assert.Same(t, errDown, b.Execute(context.Background(), fail))
	wrapped := fmt.Errorf("query: %w", errDown)
	assert.Same(t, wrapped, b.Execute(context.Background(), func(context.Context) error { return wrapped }))
}

func TestCallersCancellationIsNotAFailure(t *testing.T) {
	b := newBreaker(t, breaker.Config{MinimumThroughput: 2, ConsecutiveFailures: 2})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	canceled := func(ctx context.Context) error { return fmt.Errorf("get: %w", ctx.Err()) }
	for range 5 {
		assert.ErrorIs(t, b.Execute(ctx, canceled), context.Canceled)
	}
	m := b.Metrics()
	assert.Equal(t, breaker.Closed, m.State)
	assert.Zero(t, m.Calls, "neither successes nor failures: not in the window")
	assert.Zero(t, m.Failures)
	assert.Equal(t, int64(5), m.TotalCalls)

	run(t, b, 1, func(context.Context) error { return context.DeadlineExceeded })
	assert.Equal(t, 1, b.Metrics().Failures, "a deadline is a failure")
}

func TestIsFailure(t *testing.T) {
	errNotFound := errors.New("not found")
	b := newBreaker(t, breaker.Config{
		MinimumThroughput: 2,
		IsFailure:         func(err error) bool { return !errors.Is(err, errNotFound) },
	})
	for range 5 {
		assert.Same(t, errNotFound, b.Execute(context.Background(), func(context.Context) error { return errNotFound }))
	}
	m := b.Metrics()
	assert.Equal(t, 5, m.Calls)
	assert.Zero(t, m.Failures)
	assert.True(t, m.LastFailure.IsZero())
}

func TestPanicIsAFailureAndGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, breaker.Config{
			ConsecutiveFailures: 1,
			BreakDuration:       time.Second,
			SuccessThreshold:    1,
			HalfOpenCalls:       1,
			IsFailure:           func(error) bool { return false }, // a panic fails regardless
		})
		boom := func(context.Context) error { panic("boom") }
		assert.PanicsWithValue(t, "boom", func() { _ = b.Execute(context.Background(), boom) })
		m := b.Metrics()
		assert.Equal(t, breaker.Open, m.State)
		assert.Equal(t, 1, m.Failures)
		assert.Equal(t, time.Now(), m.LastFailure)

		time.Sleep(time.Second)
		assert.PanicsWithValue(t, "boom", func() { _ = b.Execute(context.Background(), boom) })
		assert.Equal(t, breaker.Open, b.State(), "a panicking trial call fails the trial")

		time.Sleep(time.Second)
		run(t, b, 1, ok) // the only trial slot was released
		assert.Equal(t, int64(3), b.Metrics().TotalCalls)
	})
}

func TestPanicInIsFailureReleasesTheTrialSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{
			BreakDuration: time.Second,
			HalfOpenCalls: 1,
			IsFailure: func(err error) bool {
				if err.Error() == "odd" {
					panic("odd error")
				}
				return true
			},
		})
		time.Sleep(time.Second)
		assert.PanicsWithValue(t, "odd error", func() {
			_ = b.Execute(context.Background(), func(context.Context) error { return errors.New("odd") })
		})
		assert.Equal(t, breaker.Open, b.State(), "counted as a failure")
		time.Sleep(time.Second)
		run(t, b, 1, ok)
	})
}

func TestOnStateChangeRunsOutsideTheLockInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b *breaker.Breaker
		var got []string
		depth, nested := 0, false
		b = newBreaker(t, breaker.Config{
			BreakDuration:    time.Second,
			SuccessThreshold: 1,
			OnStateChange: func(from, to breaker.State) {
				depth++
				defer func() { depth-- }()
				nested = nested || depth > 1
				// Calling the breaker here would deadlock under a lock.
				got = append(got, fmt.Sprintf("%v->%v (State %v)", from, to, b.State()))
				if to == breaker.Open && len(got) == 1 {
					b.Reset() // a transition from within: delivered after this one
				}
				_ = b.Metrics()
			},
		})
		run(t, b, 10, fail)
		assert.Equal(t, []string{
			"closed->open (State open)",
			"open->closed (State closed)",
		}, got)
		run(t, b, 10, fail)
		time.Sleep(time.Second)
		run(t, b, 1, ok)
		assert.Equal(t, []string{
			"closed->open (State open)",
			"open->closed (State closed)",
			"closed->open (State open)",
			"open->half_open (State half_open)",
			"half_open->closed (State closed)",
		}, got)
		assert.False(t, nested, "one call at a time: a transition made by OnStateChange is delivered after it returns")
	})
}

func TestPanicInOnStateChangeDoesNotStopLaterDeliveries(t *testing.T) {
	var got []string
	b := newBreaker(t, breaker.Config{
		ConsecutiveFailures: 1,
		OnStateChange: func(from, to breaker.State) {
			got = append(got, from.String()+"->"+to.String())
			if to == breaker.Open {
				panic("callback")
			}
		},
	})
	assert.PanicsWithValue(t, "callback", func() { _ = b.Execute(context.Background(), fail) })
	b.Reset()
	assert.Equal(t, []string{"closed->open", "open->closed"}, got)
}

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		b := newBreaker(t, breaker.Config{WindowSize: 5, MinimumThroughput: 5, SlowCallDuration: time.Minute})
		m := b.Metrics()
		assert.Equal(t, breaker.Metrics{State: breaker.Closed, StateSince: start}, m)

		run(t, b, 1, sleepThen(time.Second, nil))
		run(t, b, 1, sleepThen(3*time.Second, errDown))
		failedAt := time.Now()
		run(t, b, 1, sleepThen(2*time.Minute, nil))
		run(t, b, 1, sleepThen(4*time.Second, errDown))
		m = b.Metrics()
		assert.Equal(t, breaker.Metrics{
			State:               breaker.Closed,
			Calls:               4,
			Failures:            2,
			SlowCalls:           1,
			FailureRatio:        0.5,
			SlowCallRatio:       0.25,
			ConsecutiveFailures: 1,
			TotalCalls:          4,
			AverageDuration:     (time.Second + 3*time.Second + 2*time.Minute + 4*time.Second) / 4,
			LastFailure:         failedAt.Add(2*time.Minute + 4*time.Second),
			StateSince:          start,
		}, m)

		run(t, b, 1, fail)
		openedAt := time.Now()
		_ = b.Execute(context.Background(), ok)
		m = b.Metrics()
		assert.Equal(t, breaker.Open, m.State)
		assert.Equal(t, openedAt, m.StateSince)
		assert.Equal(t, openedAt, m.LastFailure)
		assert.Equal(t, int64(5), m.TotalCalls)
		assert.Equal(t, int64(1), m.Rejected)
		assert.Equal(t, 2, m.ConsecutiveFailures)
	})
}

func TestAllowAndDone(t *testing.T) {
	b := newBreaker(t, breaker.Config{ConsecutiveFailures: 2})
	p, err := b.Allow()
	require.NoError(t, err)
	p.Done(errDown)
	p.Done(errDown) // zeroed by the first Done: nothing
	assert.Equal(t, int64(1), b.Metrics().TotalCalls)

	p, err = b.Allow()
	require.NoError(t, err)
	p.Done(errDown)
	require.Equal(t, breaker.Open, b.State())

	p, err = b.Allow()
	require.ErrorIs(t, err, breaker.ErrOpen)
	_, hasHint := policy.RetryAfter(err)
	assert.True(t, hasHint)
	p.Done(nil) // the zero Permit of a rejection: nothing
	var zero breaker.Permit
	zero.Done(nil)
	m := b.Metrics()
	assert.Equal(t, int64(2), m.TotalCalls)
	assert.Equal(t, int64(1), m.Rejected)
}

func TestAllowAllocatesNothing(t *testing.T) {
	b := newBreaker(t, breaker.Config{})
	allocs := testing.AllocsPerRun(100, func() {
		p, err := b.Allow()
		if err != nil {
			panic(err)
		}
		p.Done(nil)
	})
	assert.Zero(t, allocs)
}

func TestStateString(t *testing.T) {
	assert.Equal(t, "closed", breaker.Closed.String())
	assert.Equal(t, "open", breaker.Open.String())
	assert.Equal(t, "half_open", breaker.HalfOpen.String())
	assert.Equal(t, "isolated", breaker.Isolated.String())
	assert.Equal(t, "State(7)", breaker.State(7).String())
}

func TestName(t *testing.T) {
	assert.Equal(t, "breaker", newBreaker(t, breaker.Config{}).Name())
	assert.Equal(t, "db", newBreaker(t, breaker.Config{Name: "db"}).Name())
}

func TestInPipeline(t *testing.T) {
	b := newBreaker(t, breaker.Config{ConsecutiveFailures: 1})
	p := policy.NewPipeline("api", b).WithTelemetry(telemetry.Disabled())
	assert.Same(t, errDown, p.Execute(context.Background(), fail))
	assert.ErrorIs(t, p.Execute(context.Background(), ok), breaker.ErrOpen)
}

// rejectedInside is the error of a policy inside the breaker, such as a full
// bulkhead, that refused the call.
type rejectedInside struct{}

func (rejectedInside) Error() string        { return "bulkhead full" }
func (rejectedInside) Is(target error) bool { return target == policy.ErrRejected }

func TestInnerRejectionsAreIgnored(t *testing.T) {
	b := newBreaker(t, breaker.Config{MinimumThroughput: 2, ConsecutiveFailures: 2})
	full := func(context.Context) error { return rejectedInside{} }
	for range 10 {
		assert.Equal(t, rejectedInside{}, b.Execute(context.Background(), full))
	}
	m := b.Metrics()
	assert.Equal(t, breaker.Closed, m.State, "a full bulkhead inside does not open the breaker")
	assert.Zero(t, m.Calls)
	assert.Zero(t, m.ConsecutiveFailures)
	assert.Equal(t, int64(10), m.TotalCalls)

	// Nor does it break a run of consecutive failures.
	run(t, b, 1, fail)
	run(t, b, 1, full)
	run(t, b, 1, fail)
	assert.Equal(t, breaker.Open, b.State())
}

func TestHalfOpenTrialEndingIgnoredGivesPermitBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{BreakDuration: time.Second, SuccessThreshold: 1, HalfOpenCalls: 1})
		time.Sleep(time.Second)

		// A trial refused inside, then one whose caller gives up: neither
		// closes nor reopens the breaker, and each gives its permit back.
		assert.Equal(t, rejectedInside{}, b.Execute(context.Background(), func(context.Context) error { return rejectedInside{} }))
		assert.Equal(t, breaker.HalfOpen, b.State())
		ctx, cancel := context.WithCancel(context.Background())
		err := b.Execute(ctx, func(ctx context.Context) error { cancel(); return ctx.Err() })
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, breaker.HalfOpen, b.State())

		p, err := b.Allow()
		require.NoError(t, err, "the permit was given back")
		p.Done(rejectedInside{})
		assert.Equal(t, breaker.HalfOpen, b.State())

		run(t, b, 1, ok)
		assert.Equal(t, breaker.Closed, b.State(), "a real success closes it")
	})
}
