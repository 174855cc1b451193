package breaker_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
)

// busyError is a dependency's "come back later", as palisadehttp makes of
// a 429 or 503 with Retry-After.
type busyError struct{ after time.Duration }

func (e busyError) Error() string             { return "busy" }
func (e busyError) RetryAfter() time.Duration { return e.after }

func failWith(err error) func(context.Context) error {
	return func(context.Context) error { return err }
}

// remaining returns the break left, as an open breaker's rejection says.
func remaining(t *testing.T, b *breaker.Breaker) time.Duration {
	t.Helper()
	err := b.Execute(context.Background(), ok)
	require.ErrorIs(t, err, breaker.ErrOpen)
	d, has := policy.RetryAfter(err)
	require.True(t, has, "an open breaker's rejection has a hint")
	return d
}

func TestBreakFromRetryAfter(t *testing.T) {
	cfg := breaker.Config{ConsecutiveFailures: 1, BreakDuration: 30 * time.Second, BreakFromRetryAfter: true, MaxBreakFromRetryAfter: time.Minute, HalfOpenCalls: 1}
	for _, c := range []struct {
		name string
		cfg  breaker.Config
		err  error
		want time.Duration
	}{
		{"the hint", cfg, busyError{10 * time.Second}, 10 * time.Second},
		{"capped", cfg, busyError{time.Hour}, time.Minute},
		{"no hint: BreakDuration", cfg, errDown, 30 * time.Second},
		{"negative hint: no break", cfg, busyError{-time.Second}, 0},
		{"off by default", breaker.Config{ConsecutiveFailures: 1, BreakDuration: 30 * time.Second}, busyError{10 * time.Second}, 30 * time.Second},
		{"default cap", breaker.Config{ConsecutiveFailures: 1, BreakFromRetryAfter: true}, busyError{time.Hour}, breaker.DefaultMaxBreakFromRetryAfter},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBreaker(t, c.cfg)
				_ = b.Execute(context.Background(), failWith(c.err))
				if c.want == 0 {
					assert.Equal(t, breaker.HalfOpen, b.State())
					return
				}
				assert.Equal(t, c.want, remaining(t, b))
				time.Sleep(c.want)
				assert.Equal(t, breaker.HalfOpen, b.State(), "the break ends when the hint said")
			})
		})
	}
}

// A failed trial call with a hint reopens for the hint.
func TestBreakFromRetryAfterInHalfOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{BreakDuration: time.Second, BreakFromRetryAfter: true, HalfOpenCalls: 1})
		time.Sleep(time.Second)
		_ = b.Execute(context.Background(), failWith(busyError{20 * time.Second}))
		assert.Equal(t, 20*time.Second, remaining(t, b))
	})
}

// panickyHint's RetryAfter panics.
type panickyHint struct{}

func (panickyHint) Error() string             { return "panicky" }
func (panickyHint) RetryAfter() time.Duration { panic("hint") }

// The hint is read outside the lock, like the classifiers: should the
// error's RetryAfter panic, the call counts as a failure (and opens the
// breaker the usual way) and the panic goes on.
func TestBreakFromRetryAfterPanickingHint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, breaker.Config{ConsecutiveFailures: 1, BreakDuration: 7 * time.Second, BreakFromRetryAfter: true})
		assert.PanicsWithValue(t, "hint", func() { _ = b.Execute(context.Background(), failWith(panickyHint{})) })
		assert.Equal(t, 7*time.Second, remaining(t, b))
	})
}
