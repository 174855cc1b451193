package breaker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
)

// OpenUntil opens a closed breaker until the given instant, reported as
// any opening, rejecting with the rest of that break as RetryAfter; the
// breaker goes half-open at that instant.
func TestOpenUntilOpensClosedBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := newBreaker(t, breaker.Config{OnStateChange: rec.onChange})
		until := time.Now().Add(5 * time.Second)
		require.True(t, b.OpenUntil(until))
		m := b.Metrics()
		assert.Equal(t, breaker.Open, m.State)
		assert.True(t, m.OpenUntil.Equal(until), "OpenUntil %v, want %v", m.OpenUntil, until)

		time.Sleep(2 * time.Second)
		err := b.Execute(context.Background(), ok)
		require.ErrorIs(t, err, breaker.ErrOpen)
		d, hinted := policy.RetryAfter(err)
		require.True(t, hinted)
		assert.Equal(t, 3*time.Second, d)

		time.Sleep(3 * time.Second)
		assert.Equal(t, breaker.HalfOpen, b.State())
		assert.True(t, b.Metrics().OpenUntil.IsZero(), "OpenUntil is zero but in Open")
		assert.Equal(t, []string{"closed->open", "open->half_open"}, rec.got)
	})
}

// An instant given on the wall clock only (no monotonic reading, as one
// built from a Unix timestamp received from elsewhere) is converted to the
// breaker's clock.
func TestOpenUntilWallClockInstant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, breaker.Config{})
		until := time.UnixMilli(time.Now().Add(1500 * time.Millisecond).UnixMilli())
		require.True(t, b.OpenUntil(until))
		_, err := b.Allow()
		d, _ := policy.RetryAfter(err)
		assert.InDelta(t, 1500*time.Millisecond, d, float64(time.Millisecond))
		time.Sleep(1500 * time.Millisecond)
		assert.Equal(t, breaker.HalfOpen, b.State())
	})
}

// OpenUntil never shortens a break, nor reopens for an instant already
// past, nor leaves Isolated; a later instant extends the break with no new
// transition.
func TestOpenUntilNeverShortensNorReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := newBreaker(t, breaker.Config{OnStateChange: rec.onChange})
		assert.False(t, b.OpenUntil(time.Now()), "an instant not in the future")
		assert.False(t, b.OpenUntil(time.Now().Add(-time.Hour)))
		assert.Equal(t, breaker.Closed, b.State())

		start := time.Now()
		require.True(t, b.OpenUntil(start.Add(10*time.Second)))
		assert.False(t, b.OpenUntil(start.Add(5*time.Second)), "shorter")
		assert.False(t, b.OpenUntil(start.Add(10*time.Second)), "the same")
		assert.True(t, b.Metrics().OpenUntil.Equal(start.Add(10*time.Second)))

		require.True(t, b.OpenUntil(start.Add(20*time.Second)), "longer")
		m := b.Metrics()
		assert.True(t, m.OpenUntil.Equal(start.Add(20*time.Second)))
		assert.True(t, m.StateSince.Equal(start), "the same break, extended")
		time.Sleep(10 * time.Second)
		assert.Equal(t, breaker.Open, b.State())
		time.Sleep(10 * time.Second)
		assert.Equal(t, breaker.HalfOpen, b.State())

		b.Isolate()
		assert.False(t, b.OpenUntil(time.Now().Add(time.Hour)))
		assert.Equal(t, breaker.Isolated, b.State())
		assert.Equal(t, []string{"closed->open", "open->half_open", "half_open->isolated"}, rec.got)

		assert.False(t, b.OpenUntil(time.Unix(1<<62, 0)), "isolated")
		b.Reset()
		require.True(t, b.OpenUntil(time.Unix(1<<62, 0)), "far future: no overflow")
		_, err := b.Allow()
		d, _ := policy.RetryAfter(err)
		assert.Greater(t, d, 100*365*24*time.Hour)
	})
}

// Opening a half-open breaker makes its trial calls late: their outcomes
// change nothing, and they free their trial slots. The opening counts as a
// consecutive one for BreakDurationFunc.
func TestOpenUntilHalfOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var opens []int
		b := tripped(t, breaker.Config{SuccessThreshold: 1, HalfOpenCalls: 1, BreakDurationFunc: func(n int) time.Duration {
			opens = append(opens, n)
			return time.Second
		}})
		time.Sleep(time.Second)
		trial, err := b.Allow()
		require.NoError(t, err)
		require.True(t, b.OpenUntil(time.Now().Add(time.Second)))
		trial.Done(nil) // late: must not close
		assert.Equal(t, breaker.Open, b.State())
		time.Sleep(time.Second)
		require.ErrorIs(t, b.Execute(context.Background(), fail), errDown, "the late trial freed its slot")
		assert.Equal(t, breaker.Open, b.State())
		assert.Equal(t, []int{1, 3}, opens, "the forced opening was the 2nd")
	})
}

// TrialGate is never asked on the closed path; in half-open, false rejects
// a trial call as a full half-open breaker does (ErrOpen, no RetryAfter,
// counted as rejected), and true leaves HalfOpenCalls to decide.
func TestTrialGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var asked atomic.Int64
		var open atomic.Bool
		gate := func() bool { asked.Add(1); return open.Load() }
		b := newBreaker(t, breaker.Config{ConsecutiveFailures: 1, BreakDuration: time.Second, SuccessThreshold: 2, HalfOpenCalls: 1, TrialGate: gate})
		run(t, b, 10, ok)
		p, err := b.Allow()
		require.NoError(t, err)
		p.Done(nil)
		require.Zero(t, asked.Load(), "asked on the closed path")

		run(t, b, 1, fail)
		require.ErrorIs(t, b.Execute(context.Background(), ok), breaker.ErrOpen)
		require.Zero(t, asked.Load(), "asked while the break runs")

		time.Sleep(time.Second)
		rejected := b.Metrics().Rejected
		err = b.Execute(context.Background(), ok)
		require.ErrorIs(t, err, breaker.ErrOpen)
		require.ErrorIs(t, err, policy.ErrRejected)
		_, hinted := policy.RetryAfter(err)
		assert.False(t, hinted)
		assert.Equal(t, rejected+1, b.Metrics().Rejected)
		assert.Equal(t, int64(1), asked.Load())
		assert.Equal(t, breaker.HalfOpen, b.State())

		open.Store(true)
		p, err = b.Allow()
		require.NoError(t, err)
		_, err = b.Allow()
		require.ErrorIs(t, err, breaker.ErrOpen, "the gate is open but HalfOpenCalls is 1")
		p.Done(nil)
		run(t, b, 1, ok)
		assert.Equal(t, breaker.Closed, b.State())
		asked.Store(0)
		run(t, b, 5, ok)
		assert.Zero(t, asked.Load())
	})
}

// A panicking TrialGate admits nothing and holds nothing: the panic goes on
// to the caller, and the trial slot stays free.
func TestTrialGatePanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var panics atomic.Bool
		panics.Store(true)
		b := tripped(t, breaker.Config{BreakDuration: time.Second, SuccessThreshold: 1, HalfOpenCalls: 1, TrialGate: func() bool {
			if panics.Load() {
				panic("gate")
			}
			return true
		}})
		time.Sleep(time.Second)
		ran := false
		require.PanicsWithValue(t, "gate", func() {
			_ = b.Execute(context.Background(), func(context.Context) error { ran = true; return nil })
		})
		assert.False(t, ran)
		panics.Store(false)
		run(t, b, 1, ok)
		assert.Equal(t, breaker.Closed, b.State())
	})
}
