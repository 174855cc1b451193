package policy_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// The README's quickstart, verbatim, against a dependency that is down: once
// the breaker is open, a call with a 500ms deadline gets breaker.ErrOpen at
// once, rather than context.DeadlineExceeded after sleeping into the 30s
// break.
func TestQuickstartReturnsErrOpenAtOnceWhileDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := policy.NewPipeline("users-api",
			retry.Must(retry.Config{MaxAttempts: 3}), // outermost
			breaker.Must(breaker.Config{FailureRatio: 0.5}),
			timeout.Must(timeout.Config{Duration: 2 * time.Second}),
			bulkhead.Must(bulkhead.Config{MaxConcurrent: 50}), // innermost
		).WithTelemetry(telemetry.Disabled())
		down := errors.New("connection refused")
		getUser := func(ctx context.Context) (User, error) { return User{}, down }

		var opened bool
		for call := 0; call < 20 && !opened; call++ {
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			start := time.Now()
			_, err := policy.Get(ctx, p, getUser)
			cancel()
			require.Less(t, time.Since(start), 500*time.Millisecond, "call %d: %v", call, err)
			require.NotErrorIs(t, err, context.DeadlineExceeded, "call %d", call)
			opened = errors.Is(err, breaker.ErrOpen)
		}
		require.True(t, opened, "the breaker opened within 20 calls")

		for range 5 {
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			start := time.Now()
			_, err := policy.Get(ctx, p, getUser)
			cancel()
			assert.ErrorIs(t, err, breaker.ErrOpen)
			assert.Zero(t, time.Since(start), "a rejection returns at once")
		}
	})
}
