package breaker_test

import (
	"context"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy/breaker"
)

// goexits runs f on a goroutine of its own and waits for it to end, as
// t.FailNow in a callback would end the test's goroutine.
func goexits(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

// A user callback that never returns — runtime.Goexit, as t.FailNow in a
// test — leaves the breaker as a panic would: the lock released, a trial
// permit given back, the failure counted.
func TestCallbackGoexitLeavesTheBreakerConsistent(t *testing.T) {
	t.Run("BreakDurationFunc", func(t *testing.T) {
		exit := true
		b := newBreaker(t, breaker.Config{
			ConsecutiveFailures: 1,
			BreakDurationFunc: func(int) time.Duration {
				if exit {
					exit = false
					runtime.Goexit()
				}
				return time.Second
			},
		})
		goexits(func() { _ = b.Execute(context.Background(), fail) })
		assert.Equal(t, breaker.Closed, b.State(), "not opened, and not locked")
		run(t, b, 1, fail)
		assert.Equal(t, breaker.Open, b.State())
	})
	t.Run("IsFailure", func(t *testing.T) {
		b := newBreaker(t, breaker.Config{
			ConsecutiveFailures: 2,
			IsFailure:           func(error) bool { runtime.Goexit(); return true },
		})
		goexits(func() { _ = b.Execute(context.Background(), fail) })
		m := b.Metrics()
		assert.Equal(t, 1, m.Failures, "counted as a failure")
		assert.Equal(t, 1, m.ConsecutiveFailures)
	})
	t.Run("OnStateChange holding a trial permit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			exit := false
			b := tripped(t, breaker.Config{
				BreakDuration: time.Second,
				HalfOpenCalls: 1,
				OnStateChange: func(from, to breaker.State) {
					if exit && to == breaker.HalfOpen {
						exit = false
						runtime.Goexit()
					}
				},
			})
			time.Sleep(time.Second)
			exit = true
			goexits(func() { _, _ = b.Allow() })
			p, err := b.Allow()
			require.NoError(t, err, "the trial permit was given back")
			p.Release()
		})
	})
}

// A panicking callback's value reaches the caller unchanged, after the
// breaker has released its lock.
func TestCallbackPanicValueIsKept(t *testing.T) {
	type value struct{ n int }
	b := newBreaker(t, breaker.Config{
		ConsecutiveFailures: 1,
		BreakDurationFunc:   func(int) time.Duration { panic(value{7}) },
	})
	assert.PanicsWithValue(t, value{7}, func() { _ = b.Execute(context.Background(), fail) })
	assert.Equal(t, breaker.Closed, b.State())
}

func TestNilFuncPanicsNamingTheContract(t *testing.T) {
	for _, cfg := range []breaker.Config{{}, {SlowCallDuration: time.Second}} {
		b := newBreaker(t, cfg)
		assert.PanicsWithValue(t, "palisade/breaker: Execute called with a nil policy.Func", func() {
			_ = b.Execute(context.Background(), nil)
		})
		m := b.Metrics()
		assert.Zero(t, m.TotalCalls, "nothing admitted, nothing counted")
	}
}
