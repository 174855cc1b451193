package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy/breaker"
)

// errInvalid is an error of the caller's making (a validation error, a 404):
// it says nothing about the dependency's health.
var errInvalid = errors.New("invalid argument")

func isInvalid(err error) bool { return errors.Is(err, errInvalid) }

func invalid(context.Context) error { return fmt.Errorf("get: %w", errInvalid) }

// Excluded errors must not dilute the failure ratio: with IsIgnored they
// take no place in the window. (IsFailure alone would count them as
// successes: 2 failures and 10 validation errors are 2 of 12, not 2 of 2.)
func TestIsIgnoredTakesNoPlaceInTheWindow(t *testing.T) {
	for _, cfg := range []breaker.Config{
		{WindowSize: 10},
		{WindowDuration: time.Minute},
		{WindowSize: 10, SlowCallDuration: time.Hour},
	} {
		t.Run(fmt.Sprintf("window %d/%v timed %v", cfg.WindowSize, cfg.WindowDuration, cfg.SlowCallDuration > 0), func(t *testing.T) {
			cfg.MinimumThroughput = 4
			cfg.FailureRatio = 0.5
			// IsIgnored is asked first: an error both ignored and a failure
			// is ignored, and IsFailure is not asked.
			cfg.IsIgnored = isInvalid
			cfg.IsFailure = func(err error) bool {
				if isInvalid(err) {
					t.Errorf("IsFailure asked about an ignored error: %v", err)
				}
				return true
			}
			b := newBreaker(t, cfg)
			run(t, b, 2, fail)
			for range 10 {
				assert.ErrorIs(t, b.Execute(context.Background(), invalid), errInvalid, "returned unchanged")
			}
			m := b.Metrics()
			assert.Equal(t, 2, m.Calls, "ignored outcomes take no place in the window")
			assert.Equal(t, 2, m.Failures)
			assert.Equal(t, int64(12), m.TotalCalls, "but they ran: they are counted")
			assert.Equal(t, 2, m.ConsecutiveFailures, "nor do they break a run of failures")
			run(t, b, 2, fail)
			assert.Equal(t, breaker.Open, b.State(), "4 failures of 4")
		})
	}
}

// In half-open, an ignored trial call neither closes nor reopens the
// breaker, and gives its permit back: three validation errors must not
// close a breaker whose dependency is still down.
func TestIsIgnoredInHalfOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{
			BreakDuration:    time.Second,
			SuccessThreshold: 3,
			HalfOpenCalls:    1,
			IsIgnored:        isInvalid,
			IsFailure:        func(err error) bool { return !isInvalid(err) },
		})
		time.Sleep(time.Second)
		for i := range 3 {
			assert.ErrorIs(t, b.Execute(context.Background(), invalid), errInvalid, "trial %d ran", i+1)
			assert.Equal(t, breaker.HalfOpen, b.State(), "after %d ignored trial calls", i+1)
		}
		p, err := b.Allow()
		require.NoError(t, err, "every ignored trial gave its permit back")
		p.Done(errInvalid)
		assert.Equal(t, breaker.HalfOpen, b.State(), "Done classifies as Execute does")

		run(t, b, 1, fail)
		assert.Equal(t, breaker.Open, b.State(), "the dependency is still down")
		assert.Equal(t, int64(6), b.Metrics().TotalCalls)
	})
}

// IsIgnored is asked only about errors: nil is a success, always.
func TestIsIgnoredIsNotAskedAboutNil(t *testing.T) {
	b := newBreaker(t, breaker.Config{
		WindowSize: 10,
		IsIgnored: func(err error) bool {
			if err == nil {
				t.Error("IsIgnored(nil) called")
			}
			return true
		},
	})
	run(t, b, 3, ok)
	run(t, b, 3, fail)
	m := b.Metrics()
	assert.Equal(t, 3, m.Calls)
	assert.Zero(t, m.Failures, "every error ignored")
}

// A panicking IsIgnored is handled as a panicking IsFailure is: the call
// counts as a failure, a trial call's permit is released, and the panic
// goes on.
func TestPanicInIsIgnoredCountsAFailureAndReleasesTheTrialSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{
			BreakDuration: time.Second,
			HalfOpenCalls: 1,
			IsIgnored: func(err error) bool {
				if err.Error() == "odd" {
					panic("odd error")
				}
				return false
			},
		})
		time.Sleep(time.Second)
		assert.PanicsWithValue(t, "odd error", func() {
			_ = b.Execute(context.Background(), func(context.Context) error { return errors.New("odd") })
		})
		assert.Equal(t, breaker.Open, b.State(), "counted as a failure")
		time.Sleep(time.Second)
		run(t, b, 1, ok) // the trial slot was released
	})
}
