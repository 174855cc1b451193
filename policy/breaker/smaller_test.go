package breaker_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy/breaker"
)

// A BreakDurationFunc that panics opens nothing and counts no opening: the
// panic goes on, the breaker stays in its state, unlocked, and the next
// opening is called with the same n.
func TestPanickingBreakDurationFuncCountsNoOpening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []int
		panicNext := true
		b := newBreaker(t, breaker.Config{
			ConsecutiveFailures: 1,
			SuccessThreshold:    2,
			HalfOpenCalls:       1,
			BreakDurationFunc: func(n int) time.Duration {
				got = append(got, n)
				if panicNext {
					panicNext = false
					panic("break")
				}
				return time.Second
			},
		})
		assert.PanicsWithValue(t, "break", func() { _ = b.Execute(context.Background(), fail) })
		assert.Equal(t, breaker.Closed, b.State(), "no break: still closed, and not locked")
		run(t, b, 1, fail)
		assert.Equal(t, breaker.Open, b.State())
		assert.Equal(t, []int{1, 1}, got, "the opening that panicked was not counted")

		// In half-open: the failed trial's permit is released, and the
		// breaker stays half-open.
		time.Sleep(time.Second)
		panicNext = true
		assert.PanicsWithValue(t, "break", func() { _ = b.Execute(context.Background(), fail) })
		assert.Equal(t, breaker.HalfOpen, b.State())
		p, err := b.Allow()
		require.NoError(t, err, "the trial permit was released")
		p.Done(errDown)
		assert.Equal(t, breaker.Open, b.State())
		assert.Equal(t, []int{1, 1, 2, 2}, got)
	})
}
