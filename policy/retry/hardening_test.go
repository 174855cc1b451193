package retry_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

func TestHintAboveMaxRetryAfterEndsTheCall(t *testing.T) {
	for _, c := range []struct {
		name          string
		maxRetryAfter time.Duration
		hint          time.Duration
		wantWait      bool
	}{
		{"default cap, break of 30s", 0, 30 * time.Second, false},
		{"default cap, hint at the cap", 0, time.Second, true},
		{"raised cap", time.Minute, 30 * time.Second, true},
		{"cap below the hint", 10 * time.Millisecond, 11 * time.Millisecond, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRetry(t, retry.Config{BackOff: zero, MaxRetryAfter: c.maxRetryAfter})
				busy := &openError{remaining: c.hint}
				attempts := 0
				start := time.Now()
				err := r.Execute(t.Context(), func(context.Context) error {
					attempts++
					if attempts == 1 {
						return busy
					}
					return nil
				})
				if c.wantWait {
					require.NoError(t, err)
					assert.Equal(t, c.hint, time.Since(start))
					assert.Equal(t, 2, attempts)
					return
				}
				assert.Same(t, busy, err, "the last error comes back unchanged, not as exhausted")
				assert.Zero(t, time.Since(start), "no wait for a hint above MaxRetryAfter")
				assert.Equal(t, 1, attempts)
			})
		})
	}
}

func TestNoWaitPastTheCallersDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetry(t, retry.Config{MaxAttempts: 10, BackOff: constant(time.Second)})
		ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
		defer cancel()
		rec := failing(10)
		start := time.Now()
		err := r.Execute(ctx, rec.fn)

		// Attempts at 0s, 1s, 2s; a wait until 3s cannot end before 2.5s.
		var ex *retry.Error
		require.ErrorAs(t, err, &ex, "exhausted, not the deadline: got %v", err)
		assert.NotErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, err, errBoom)
		assert.Equal(t, 3, ex.Attempts)
		assert.Equal(t, 2*time.Second, time.Since(start), "ends after its last attempt, without waiting for the deadline")
	})
}

func TestHugeDelaysDoNotOverflow(t *testing.T) {
	huge := time.Duration(math.MaxInt64)
	for _, c := range []struct {
		name  string
		cfg   retry.Config
		delay time.Duration // the backoff's, or a hint
		hint  bool
		ctxTO time.Duration
		takes time.Duration // each attempt
	}{
		{"hint against MaxDuration", retry.Config{MaxRetryAfter: huge, MaxDuration: 10 * time.Second}, huge, true, 0, time.Second},
		{"hint against the deadline", retry.Config{MaxRetryAfter: huge}, huge, true, 5 * time.Second, time.Second},
		{"backoff against MaxDuration", retry.Config{MaxDuration: time.Second}, huge - 1, false, 0, time.Second},
		{"backoff near MaxInt64, late in MaxDuration", retry.Config{MaxDuration: 3 * time.Hour}, huge - time.Hour, false, 0, time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := c.cfg
				failure := error(errBoom)
				if c.hint {
					cfg.BackOff = zero
					failure = hintError{after: c.delay}
				} else {
					cfg.BackOff = constant(c.delay)
				}
				r := newRetry(t, cfg)
				ctx := t.Context()
				if c.ctxTO > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, c.ctxTO)
					defer cancel()
				}
				done := make(chan error, 1)
				start := time.Now()
				go func() {
					done <- r.Execute(ctx, func(context.Context) error {
						time.Sleep(c.takes)
						return failure
					})
				}()
				select {
				case err := <-done:
					assert.ErrorIs(t, err, retry.ErrExhausted)
					assert.ErrorIs(t, err, failure)
					assert.Equal(t, c.takes, time.Since(start), "ends after the one attempt")
				case <-time.After(24 * time.Hour):
					t.Fatal("the retry is sleeping through a delay it cannot use")
				}
			})
		})
	}
}

func TestZeroDelayChecksTheContextBeforeEachAttempt(t *testing.T) {
	for name, backOff := range map[string]func() backoff.BackOff{
		"ZeroBackOff":        zero,
		"ConstantBackOff(0)": constant(0),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := newRetry(t, retry.Config{
				BackOff: backOff,
				OnRetry: func(int, error, time.Duration) { cancel() },
			})
			attempts := 0
			err := r.Execute(ctx, func(ctx context.Context) error {
				attempts++
				return fmt.Errorf("attempt %d: %w", attempts, errBoom)
			})
			assert.Equal(t, 1, attempts, "no attempt runs once the caller gave up")
			assert.Equal(t, context.Canceled, err)
		})
	}
	t.Run("zero hint", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := newRetry(t, retry.Config{BackOff: zero, OnRetry: func(int, error, time.Duration) { cancel() }})
		attempts := 0
		err := r.Execute(ctx, func(context.Context) error { attempts++; return hintError{after: 0} })
		assert.Equal(t, 1, attempts)
		assert.Equal(t, context.Canceled, err)
	})
}

func TestNilBackOffPanicsNamingTheContract(t *testing.T) {
	r := newRetry(t, retry.Config{BackOff: func() backoff.BackOff { return nil }})
	assert.PanicsWithValue(t, "palisade/retry: Config.BackOff returned nil (<nil>)", func() {
		_ = r.Execute(t.Context(), func(context.Context) error { return errBoom })
	})
	// A nil pointer in the interface is nil too: its Reset would panic
	// with a bare nil dereference inside package backoff.
	r = newRetry(t, retry.Config{BackOff: func() backoff.BackOff { return (*backoff.ExponentialBackOff)(nil) }})
	assert.PanicsWithValue(t, "palisade/retry: Config.BackOff returned nil (*backoff.ExponentialBackOff)", func() {
		_ = r.Execute(t.Context(), func(context.Context) error { return errBoom })
	})
}

func TestNilFuncPanicsNamingTheContract(t *testing.T) {
	r := newRetry(t, retry.Config{})
	assert.PanicsWithValue(t, "palisade/retry: Execute called with a nil policy.Func", func() {
		_ = r.Execute(t.Context(), nil)
	})
}

func TestMaxRetryAfterValidation(t *testing.T) {
	_, err := retry.New(retry.Config{MaxRetryAfter: -time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.MaxRetryAfter")
}

// The README's quickstart shape: once the breaker is open, a call returns
// its rejection at once, within a short caller deadline, instead of sleeping
// through the break.
func TestAroundOpenBreakerReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		br := &fakeBreaker{openUntil: time.Now().Add(30 * time.Second)}
		r := newRetry(t, retry.Config{})
		p := policy.NewPipeline("users", r, br).WithTelemetry(telemetry.Disabled())
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := p.Execute(ctx, func(context.Context) error { return nil })
		assert.Zero(t, time.Since(start))
		var open *openError
		require.ErrorAs(t, err, &open)
		assert.Same(t, open, err, "the rejection itself")
		assert.Equal(t, 1, br.rejected)
	})
}
