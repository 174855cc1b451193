package retry_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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

var errBoom = errors.New("boom")

// hintError is a failure carrying a Retry-After hint, as an HTTP 429 or 503
// would.
type hintError struct{ after time.Duration }

func (e hintError) Error() string             { return fmt.Sprintf("busy, retry after %v", e.after) }
func (e hintError) RetryAfter() time.Duration { return e.after }

// newRetry builds a retry that does not report telemetry.
func newRetry(t *testing.T, cfg retry.Config) *retry.Retry {
	t.Helper()
	if cfg.Telemetry == nil {
		cfg.Telemetry = telemetry.Disabled()
	}
	r, err := retry.New(cfg)
	require.NoError(t, err)
	return r
}

func constant(d time.Duration) func() backoff.BackOff {
	return func() backoff.BackOff { return backoff.NewConstantBackOff(d) }
}

func zero() backoff.BackOff { return &backoff.ZeroBackOff{} }

// recorder is a function that fails with the errors given, in turn, then
// succeeds, recording when each attempt started and the Attempt it saw.
type recorder struct {
	errs     []error
	times    []time.Time
	attempts []int
}

func (r *recorder) fn(ctx context.Context) error {
	r.times = append(r.times, time.Now())
	r.attempts = append(r.attempts, retry.Attempt(ctx))
	if i := len(r.times) - 1; i < len(r.errs) {
		return r.errs[i]
	}
	return nil
}

// offsets returns when each attempt started, relative to start.
func (r *recorder) offsets(start time.Time) []time.Duration {
	out := make([]time.Duration, len(r.times))
	for i, at := range r.times {
		out[i] = at.Sub(start)
	}
	return out
}

func failing(n int) *recorder {
	rec := &recorder{}
	for range n {
		rec.errs = append(rec.errs, errBoom)
	}
	return rec
}

func TestSuccessFirstAttempt(t *testing.T) {
	made := 0
	r := newRetry(t, retry.Config{BackOff: func() backoff.BackOff { made++; return zero() }})
	rec := failing(0)
	require.NoError(t, r.Execute(t.Context(), rec.fn))
	assert.Len(t, rec.times, 1)
	assert.Zero(t, made, "no BackOff is made for a call that needs no retry")
}

func TestSucceedsOnRetry(t *testing.T) {
	r := newRetry(t, retry.Config{BackOff: zero})
	rec := failing(2)
	require.NoError(t, r.Execute(t.Context(), rec.fn))
	assert.Equal(t, []int{1, 2, 3}, rec.attempts)
}

func TestConstantBackOffDelays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetry(t, retry.Config{MaxAttempts: 4, BackOff: constant(time.Second)})
		rec := failing(10)
		start := time.Now()
		err := r.Execute(t.Context(), rec.fn)

		var ex *retry.Error
		require.ErrorAs(t, err, &ex)
		assert.Equal(t, 4, ex.Attempts)
		assert.Equal(t, []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}, rec.offsets(start))
		assert.Equal(t, 3*time.Second, time.Since(start), "no wait after the last attempt")
	})
}

func TestExponentialBackOffDelays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetry(t, retry.Config{
			MaxAttempts: 7,
			BackOff: func() backoff.BackOff {
				return backoff.NewExponentialBackOff(
					backoff.WithInitialInterval(100*time.Millisecond),
					backoff.WithMultiplier(2),
					backoff.WithRandomizationFactor(0),
					backoff.WithMaxInterval(time.Second),
					backoff.WithMaxElapsedTime(0))
			},
		})
		rec := failing(10)
		start := time.Now()
		err := r.Execute(t.Context(), rec.fn)
		require.ErrorIs(t, err, retry.ErrExhausted)

		ms := time.Millisecond
		// Delays 100, 200, 400, 800, then capped at 1000, 1000.
		assert.Equal(t, []time.Duration{0, 100 * ms, 300 * ms, 700 * ms, 1500 * ms, 2500 * ms, 3500 * ms}, rec.offsets(start))
	})
}

func TestDefaultBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var delays []time.Duration
		r := newRetry(t, retry.Config{
			MaxAttempts: 8,
			OnRetry:     func(_ int, _ error, d time.Duration) { delays = append(delays, d) },
		})
		err := r.Execute(t.Context(), failing(10).fn)
		require.ErrorIs(t, err, retry.ErrExhausted)
		require.Len(t, delays, 7)
		// 100ms ×2 per retry, capped at 10s, each ±50%.
		interval := 100 * time.Millisecond
		for i, d := range delays {
			assert.GreaterOrEqual(t, d, interval/2, "delay %d", i)
			assert.LessOrEqual(t, d, interval*3/2+1, "delay %d", i)
			interval = min(2*interval, 10*time.Second)
		}

		// No elapsed-time limit inside the backoff: MaxDuration governs.
		b := retry.DefaultBackOff()
		time.Sleep(24 * time.Hour)
		assert.NotEqual(t, backoff.Stop, b.NextBackOff())
	})
}

func TestMaxAttempts(t *testing.T) {
	cases := []struct {
		max, want int
	}{
		{0, 3}, // default
		{1, 1}, // never retries
		{5, 5},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.max), func(t *testing.T) {
			r := newRetry(t, retry.Config{MaxAttempts: c.max, BackOff: zero})
			assert.Equal(t, c.want, r.MaxAttempts())
			rec := failing(100)
			err := r.Execute(t.Context(), rec.fn)
			var ex *retry.Error
			require.ErrorAs(t, err, &ex)
			assert.Equal(t, c.want, ex.Attempts)
			assert.Len(t, rec.times, c.want)
		})
	}

	t.Run("unlimited", func(t *testing.T) {
		r := newRetry(t, retry.Config{MaxAttempts: retry.Unlimited, BackOff: zero})
		rec := failing(99)
		require.NoError(t, r.Execute(t.Context(), rec.fn))
		assert.Len(t, rec.times, 100)
	})
}

func TestExhaustedErrorShape(t *testing.T) {
	r := newRetry(t, retry.Config{MaxAttempts: 2, BackOff: zero})
	last := hintError{after: time.Millisecond}
	err := r.Execute(t.Context(), func(context.Context) error { return last })

	var ex *retry.Error
	require.ErrorAs(t, err, &ex)
	assert.Equal(t, &retry.Error{Policy: retry.DefaultName, Attempts: 2, Err: last}, ex)
	assert.Equal(t, "retry_exhausted", ex.ErrorType())
	assert.Equal(t, "palisade/retry: retry: gave up after 2 attempts: "+last.Error(), err.Error())
	assert.ErrorIs(t, err, retry.ErrExhausted)
	assert.ErrorIs(t, err, last, "the last error is in the chain")
	assert.NotErrorIs(t, err, policy.ErrRejected)
	assert.NotErrorIs(t, err, retry.ErrBudgetExhausted)
	assert.Equal(t, "retry_exhausted", telemetry.ErrorType(err))
	hint, ok := policy.RetryAfter(err)
	assert.True(t, ok, "the last error's hint shows through")
	assert.Equal(t, time.Millisecond, hint)
	assert.Contains(t, err.Error(), "2 attempts")
	assert.Contains(t, err.Error(), last.Error())
}

func TestMaxDuration(t *testing.T) {
	for _, c := range []struct {
		name        string
		maxDuration time.Duration
		attempts    int
	}{
		// Attempts at 0s, 1s, 2s, 3s; the one at 4s would end past 3.5s.
		{"between attempts", 3500 * time.Millisecond, 4},
		// A delay ending exactly at MaxDuration is allowed.
		{"at an attempt", 3 * time.Second, 4},
		{"shorter than a delay", 999 * time.Millisecond, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRetry(t, retry.Config{
					MaxAttempts: retry.Unlimited,
					BackOff:     constant(time.Second),
					MaxDuration: c.maxDuration,
				})
				rec := failing(100)
				start := time.Now()
				err := r.Execute(t.Context(), rec.fn)

				var ex *retry.Error
				require.ErrorAs(t, err, &ex)
				assert.Equal(t, c.attempts, ex.Attempts)
				assert.ErrorIs(t, err, errBoom)
				assert.Len(t, rec.times, c.attempts)
				assert.Equal(t, time.Duration(c.attempts-1)*time.Second, time.Since(start),
					"the call ends at once after its last attempt, without waiting")
			})
		})
	}
}

func TestMaxDurationCountsAttemptTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetry(t, retry.Config{
			MaxAttempts: retry.Unlimited,
			BackOff:     constant(time.Second),
			MaxDuration: 5 * time.Second,
		})
		attempts := 0
		start := time.Now()
		err := r.Execute(t.Context(), func(context.Context) error {
			attempts++
			time.Sleep(time.Second) // each attempt takes 1s
			return errBoom
		})
		require.ErrorIs(t, err, retry.ErrExhausted)
		// Attempts start at 0s, 2s, 4s; the one after would start at 6s.
		assert.Equal(t, 3, attempts)
		assert.Equal(t, 5*time.Second, time.Since(start))
	})
}

func TestRetryAfterHint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetry(t, retry.Config{MaxAttempts: 4, BackOff: constant(100 * time.Millisecond), MaxRetryAfter: 2 * time.Second})
		rec := &recorder{errs: []error{
			hintError{after: 2 * time.Second},                             // longer than the backoff: honoured
			fmt.Errorf("wrapped: %w", hintError{after: time.Millisecond}), // shorter: the backoff wins
			errBoom, // no hint
		}}
		start := time.Now()
		require.NoError(t, r.Execute(t.Context(), rec.fn))
		ms := time.Millisecond
		assert.Equal(t, []time.Duration{0, 2000 * ms, 2100 * ms, 2200 * ms}, rec.offsets(start))
	})
}

func TestRetryAfterTooLongForMaxDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var retried bool
		r := newRetry(t, retry.Config{
			BackOff:       constant(100 * time.Millisecond),
			MaxDuration:   10 * time.Second,
			MaxRetryAfter: time.Hour,
			OnRetry:       func(int, error, time.Duration) { retried = true },
		})
		busy := hintError{after: time.Minute}
		start := time.Now()
		err := r.Execute(t.Context(), func(context.Context) error { return busy })

		assert.Zero(t, time.Since(start), "the call ends at once instead of sleeping through the hint")
		assert.False(t, retried)
		var ex *retry.Error
		require.ErrorAs(t, err, &ex)
		assert.Equal(t, 1, ex.Attempts)
		assert.ErrorIs(t, err, busy)
		hint, _ := policy.RetryAfter(err)
		assert.Equal(t, time.Minute, hint, "the caller still sees the hint")
	})
}

// fakeBreaker stands for an open circuit breaker: until openUntil it rejects
// every call, without running it, with an error matching policy.ErrRejected
// whose RetryAfter is the remaining break.
type fakeBreaker struct {
	openUntil time.Time
	rejected  int
}

type openError struct{ remaining time.Duration }

func (e *openError) Error() string             { return "circuit open" }
func (e *openError) Is(target error) bool      { return target == policy.ErrRejected }
func (e *openError) RetryAfter() time.Duration { return e.remaining }
func (e *openError) ErrorType() string         { return "circuit_open" }

func (b *fakeBreaker) Execute(ctx context.Context, fn policy.Func) error {
	if remaining := time.Until(b.openUntil); remaining > 0 {
		b.rejected++
		return &openError{remaining: remaining}
	}
	return fn(ctx)
}

func TestAroundOpenBreaker(t *testing.T) {
	t.Run("break longer than MaxDuration stops at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			br := &fakeBreaker{openUntil: time.Now().Add(30 * time.Second)}
			r := newRetry(t, retry.Config{MaxAttempts: 10, BackOff: constant(time.Second), MaxDuration: 10 * time.Second, MaxRetryAfter: time.Hour})
			p := policy.NewPipeline("users", r, br).WithTelemetry(telemetry.Disabled())
			calls := 0
			start := time.Now()
			err := p.Execute(t.Context(), func(context.Context) error { calls++; return nil })

			assert.Zero(t, time.Since(start), "no sleep")
			assert.Zero(t, calls)
			assert.Equal(t, 1, br.rejected, "the open breaker is not hammered")
			assert.ErrorIs(t, err, policy.ErrRejected)
			assert.ErrorIs(t, err, retry.ErrExhausted)
			var open *openError
			assert.ErrorAs(t, err, &open)
		})
	})
	t.Run("break within MaxDuration is waited out", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			br := &fakeBreaker{openUntil: time.Now().Add(30 * time.Second)}
			r := newRetry(t, retry.Config{MaxAttempts: 10, BackOff: constant(time.Second), MaxDuration: time.Minute, MaxRetryAfter: time.Hour})
			p := policy.NewPipeline("users", r, br).WithTelemetry(telemetry.Disabled())
			calls := 0
			start := time.Now()
			require.NoError(t, p.Execute(t.Context(), func(context.Context) error { calls++; return nil }))
			assert.Equal(t, 30*time.Second, time.Since(start), "retried when the break ended, not before")
			assert.Equal(t, 1, calls)
			assert.Equal(t, 1, br.rejected)
		})
	})
}

func TestContextEndsMidDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A context without a deadline, cancelled mid-delay.
		r := newRetry(t, retry.Config{BackOff: constant(time.Hour)})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(10*time.Second, cancel)
		rec := failing(10)
		start := time.Now()
		err := r.Execute(ctx, rec.fn)
		assert.Equal(t, context.Canceled, err)
		assert.Equal(t, 10*time.Second, time.Since(start), "the wait ends with the context")
		assert.Len(t, rec.times, 1)
	})

	synctest.Test(t, func(t *testing.T) {
		r := newRetry(t, retry.Config{BackOff: constant(time.Hour)})
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Minute)
			cancel()
		}()
		start := time.Now()
		err := r.Execute(ctx, failing(10).fn)
		assert.Equal(t, context.Canceled, err)
		assert.Equal(t, time.Minute, time.Since(start))
	})
}

func TestCallerGaveUp(t *testing.T) {
	r := newRetry(t, retry.Config{
		BackOff:     zero,
		ShouldRetry: func(error) bool { return true },
	})
	ctx, cancel := context.WithCancel(t.Context())
	attempts := 0
	failure := fmt.Errorf("request: %w", context.Canceled)
	err := r.Execute(ctx, func(context.Context) error {
		attempts++
		cancel()
		return failure
	})
	assert.Same(t, failure, err, "the error comes back unchanged, not as exhausted")
	assert.Equal(t, 1, attempts, "a call whose caller gave up is not retried")
}

func TestDownstreamCancellationIsRetried(t *testing.T) {
	// context.Canceled from something other than the caller's context is a
	// failure like any other.
	r := newRetry(t, retry.Config{BackOff: zero})
	rec := &recorder{errs: []error{context.Canceled}}
	require.NoError(t, r.Execute(t.Context(), rec.fn))
	assert.Len(t, rec.times, 2)
}

func TestPermanentError(t *testing.T) {
	for name, wrap := range map[string]func(error) error{
		"direct":  backoff.Permanent,
		"wrapped": func(err error) error { return fmt.Errorf("op: %w", backoff.Permanent(err)) },
	} {
		t.Run(name, func(t *testing.T) {
			r := newRetry(t, retry.Config{
				BackOff:     zero,
				ShouldRetry: func(error) bool { return true },
			})
			attempts := 0
			err := r.Execute(t.Context(), func(context.Context) error {
				attempts++
				return wrap(errBoom)
			})
			assert.Same(t, errBoom, err, "the inner error, unwrapped")
			assert.Equal(t, 1, attempts)
		})
	}
	t.Run("on a later attempt", func(t *testing.T) {
		r := newRetry(t, retry.Config{MaxAttempts: 5, BackOff: zero})
		rec := &recorder{errs: []error{errBoom, errBoom, backoff.Permanent(context.DeadlineExceeded), errBoom}}
		err := r.Execute(t.Context(), rec.fn)
		assert.Equal(t, context.DeadlineExceeded, err)
		assert.Len(t, rec.times, 3)
	})
}

func TestShouldRetryFalse(t *testing.T) {
	notFound := errors.New("not found")
	var seen []error
	r := newRetry(t, retry.Config{
		BackOff: zero,
		ShouldRetry: func(err error) bool {
			seen = append(seen, err)
			return !errors.Is(err, notFound)
		},
	})
	rec := &recorder{errs: []error{errBoom, notFound, errBoom}}
	err := r.Execute(t.Context(), rec.fn)
	assert.Same(t, notFound, err, "unchanged")
	assert.Len(t, rec.times, 2)
	assert.Equal(t, []error{errBoom, notFound}, seen)
}

func TestShouldRetryFalseOnLastAttempt(t *testing.T) {
	// A non-retryable error is not reported as exhaustion, even when no
	// attempt was left.
	r := newRetry(t, retry.Config{MaxAttempts: 1, ShouldRetry: func(error) bool { return false }})
	err := r.Execute(t.Context(), func(context.Context) error { return errBoom })
	assert.Same(t, errBoom, err)
}

// countingBackOff records how it is used.
type countingBackOff struct {
	resets, nexts int
	delays        []time.Duration
}

func (b *countingBackOff) Reset() { b.resets++ }
func (b *countingBackOff) NextBackOff() time.Duration {
	if b.resets == 0 {
		panic("NextBackOff before Reset")
	}
	b.nexts++
	if b.nexts > len(b.delays) {
		return backoff.Stop
	}
	return b.delays[b.nexts-1]
}

func TestBackOffStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var made []*countingBackOff
		r := newRetry(t, retry.Config{
			MaxAttempts: 10,
			BackOff: func() backoff.BackOff {
				b := &countingBackOff{delays: []time.Duration{time.Second, 2 * time.Second}}
				made = append(made, b)
				return b
			},
		})
		rec := failing(100)
		start := time.Now()
		err := r.Execute(t.Context(), rec.fn)

		var ex *retry.Error
		require.ErrorAs(t, err, &ex, "backoff.Stop ends the call as exhausted")
		assert.Equal(t, 3, ex.Attempts)
		assert.ErrorIs(t, err, errBoom)
		assert.Equal(t, []time.Duration{0, time.Second, 3 * time.Second}, rec.offsets(start))
		require.Len(t, made, 1)
		assert.Equal(t, 1, made[0].resets, "Reset once before use")

		// Each call gets its own BackOff.
		require.ErrorIs(t, r.Execute(t.Context(), failing(100).fn), retry.ErrExhausted)
		assert.Len(t, made, 2)
	})

	t.Run("library wrappers", func(t *testing.T) {
		r := newRetry(t, retry.Config{
			MaxAttempts: retry.Unlimited,
			BackOff:     func() backoff.BackOff { return backoff.WithMaxRetries(&backoff.ZeroBackOff{}, 2) },
		})
		rec := failing(100)
		err := r.Execute(t.Context(), rec.fn)
		require.ErrorIs(t, err, retry.ErrExhausted)
		assert.Len(t, rec.times, 3)

		r = newRetry(t, retry.Config{BackOff: func() backoff.BackOff { return &backoff.StopBackOff{} }})
		rec = failing(100)
		var ex *retry.Error
		require.ErrorAs(t, r.Execute(t.Context(), rec.fn), &ex)
		assert.Equal(t, 1, ex.Attempts)
	})
}

func TestOnRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type call struct {
			attempt int
			err     error
			delay   time.Duration
			at      time.Duration
		}
		var calls []call
		start := time.Now()
		first, second := errors.New("first"), hintError{after: 5 * time.Second}
		r := newRetry(t, retry.Config{
			BackOff:       constant(time.Second),
			MaxRetryAfter: 5 * time.Second,
			OnRetry: func(attempt int, err error, delay time.Duration) {
				calls = append(calls, call{attempt, err, delay, time.Since(start)})
			},
		})
		rec := &recorder{errs: []error{first, second}}
		require.NoError(t, r.Execute(t.Context(), rec.fn))
		assert.Equal(t, []call{
			{attempt: 2, err: first, delay: time.Second, at: 0},                // before the delay
			{attempt: 3, err: second, delay: 5 * time.Second, at: time.Second}, // the hint's delay
		}, calls)
	})
}

func TestAttempt(t *testing.T) {
	assert.Equal(t, 1, retry.Attempt(t.Context()), "outside a retry")

	r := newRetry(t, retry.Config{MaxAttempts: 3, BackOff: zero})
	rec := failing(2)
	require.NoError(t, r.Execute(t.Context(), rec.fn))
	assert.Equal(t, []int{1, 2, 3}, rec.attempts)

	t.Run("the attempt's context is derived from the caller's", func(t *testing.T) {
		type key struct{}
		ctx := context.WithValue(t.Context(), key{}, "v")
		var values []any
		require.NoError(t, r.Execute(ctx, func(ctx context.Context) error {
			values = append(values, ctx.Value(key{}))
			if retry.Attempt(ctx) < 2 {
				return errBoom
			}
			return nil
		}))
		assert.Equal(t, []any{"v", "v"}, values)
	})

	t.Run("nested retries", func(t *testing.T) {
		inner := newRetry(t, retry.Config{MaxAttempts: 2, BackOff: zero})
		outer := newRetry(t, retry.Config{MaxAttempts: 2, BackOff: zero})
		var seen [][2]int // outer, inner
		err := outer.Execute(t.Context(), func(ctx context.Context) error {
			o := retry.Attempt(ctx)
			return inner.Execute(ctx, func(ctx context.Context) error {
				seen = append(seen, [2]int{o, retry.Attempt(ctx)})
				return errBoom
			})
		})
		require.ErrorIs(t, err, retry.ErrExhausted)
		assert.Equal(t, [][2]int{{1, 1}, {1, 2}, {2, 1}, {2, 2}}, seen)
	})
}

func TestPanicIsNotRetried(t *testing.T) {
	r := newRetry(t, retry.Config{BackOff: zero})
	attempts := 0
	assert.PanicsWithValue(t, "kaboom", func() {
		_ = r.Execute(t.Context(), func(context.Context) error {
			attempts++
			if attempts == 2 {
				panic("kaboom")
			}
			return errBoom
		})
	})
	assert.Equal(t, 2, attempts)
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []struct {
		cfg   retry.Config
		field string
	}{
		{retry.Config{MaxAttempts: -2}, "Config.MaxAttempts"},
		{retry.Config{MaxDuration: -time.Second}, "Config.MaxDuration"},
		{retry.Config{MaxRetryAfter: -time.Second}, "Config.MaxRetryAfter"},
	} {
		_, err := retry.New(c.cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), c.field)
		// One style for every package: "palisade/<pkg>: Config.<Field> must be ..., got ...".
		assert.Regexp(t, `^palisade/retry: `+regexp.QuoteMeta(c.field)+` must be .+, got .+$`, err.Error())
		assert.Contains(t, err.Error(), "palisade/retry")
		assert.Panics(t, func() { retry.Must(c.cfg) })
	}

	r := retry.Must(retry.Config{Telemetry: telemetry.Disabled()})
	assert.Equal(t, "retry", r.Name())
	assert.Equal(t, retry.DefaultMaxAttempts, r.MaxAttempts())
	assert.Equal(t, "users", retry.Must(retry.Config{Name: "users"}).Name())
}
