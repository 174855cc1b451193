package retry_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

func retries(t *testing.T, r *retry.Retry) (int, error) {
	t.Helper()
	attempts := 0
	err := r.Execute(t.Context(), func(context.Context) error {
		attempts++
		return errBoom
	})
	return attempts - 1, err
}

func TestBudgetDenial(t *testing.T) {
	b := budget.Must(budget.Config{MinExtra: 2})
	r := newRetry(t, retry.Config{MaxAttempts: retry.Unlimited, BackOff: zero, Budget: b})
	n, err := retries(t, r)
	assert.Equal(t, 2, n)

	var be *retry.Error
	require.ErrorAs(t, err, &be)
	assert.Equal(t, &retry.Error{Policy: retry.DefaultName, Attempts: 3, Err: errBoom, BudgetExhausted: true}, be)
	assert.Equal(t, "retry_budget_exhausted", be.ErrorType())
	assert.Equal(t, "palisade/retry: retry: retry budget exhausted after 3 attempts: boom", err.Error())
	assert.ErrorIs(t, err, retry.ErrBudgetExhausted)
	assert.ErrorIs(t, err, policy.ErrRejected)
	assert.ErrorIs(t, err, errBoom, "the last error is in the chain")
	assert.NotErrorIs(t, err, retry.ErrExhausted)
	assert.Equal(t, "retry_budget_exhausted", telemetry.ErrorType(err))
	assert.ErrorIs(t, retry.ErrBudgetExhausted, policy.ErrRejected)

	n, _ = retries(t, r)
	assert.Zero(t, n, "the budget is spent")
}

func TestBudgetZeroMeansZero(t *testing.T) {
	r := newRetry(t, retry.Config{BackOff: zero, Budget: budget.Must(budget.Config{})})
	n, err := retries(t, r)
	assert.Zero(t, n)
	assert.ErrorIs(t, err, retry.ErrBudgetExhausted)
}

func TestBudgetRatio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := budget.Must(budget.Config{Ratio: 0.5})
		r := newRetry(t, retry.Config{MaxAttempts: retry.Unlimited, BackOff: zero, Budget: b})
		for range 4 {
			require.NoError(t, r.Execute(t.Context(), func(context.Context) error { return nil }))
		}
		// Calls: 4 successes and this one, so 0.5 × 5 = 2.5 retries.
		n, err := retries(t, r)
		assert.Equal(t, 2, n)
		assert.ErrorIs(t, err, retry.ErrBudgetExhausted)
	})
}

func TestBudgetOnlyCountsRetriesThatHappen(t *testing.T) {
	// A call ended by ShouldRetry, MaxAttempts or a permanent error spends
	// nothing.
	b := budget.Must(budget.Config{MinExtra: 1})
	one := newRetry(t, retry.Config{MaxAttempts: 1, Budget: b})
	never := newRetry(t, retry.Config{ShouldRetry: func(error) bool { return false }, Budget: b})
	for range 3 {
		_, err := retries(t, one)
		require.ErrorIs(t, err, retry.ErrExhausted)
		_, err = retries(t, never)
		require.ErrorIs(t, err, errBoom)
		require.NotErrorIs(t, err, retry.ErrBudgetExhausted)
	}
	r := newRetry(t, retry.Config{MaxAttempts: 5, BackOff: zero, Budget: b})
	n, _ := retries(t, r)
	assert.Equal(t, 1, n)
}

func TestBudgetWindowSlides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := budget.Must(budget.Config{MinExtra: 1, Window: 10 * time.Second})
		r := newRetry(t, retry.Config{MaxAttempts: retry.Unlimited, BackOff: zero, Budget: b})
		n, _ := retries(t, r)
		require.Equal(t, 1, n)

		time.Sleep(9500 * time.Millisecond)
		n, _ = retries(t, r)
		assert.Zero(t, n, "the retry is still in the window")

		time.Sleep(500 * time.Millisecond)
		n, _ = retries(t, r)
		assert.Equal(t, 1, n, "the retry left the window")

		time.Sleep(time.Hour)
		n, _ = retries(t, r)
		assert.Equal(t, 1, n)
	})
}

func TestBudgetCallsLeaveTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := budget.Must(budget.Config{Ratio: 1, Window: 10 * time.Second})
		r := newRetry(t, retry.Config{MaxAttempts: retry.Unlimited, BackOff: zero, Budget: b})
		for range 3 {
			require.NoError(t, r.Execute(t.Context(), func(context.Context) error { return nil }))
		}
		time.Sleep(5 * time.Second)
		n, _ := retries(t, r) // 4 calls in the window
		assert.Equal(t, 4, n)

		// The first 3 calls leave the window; this call and the last one
		// remain, with its 4 retries: none allowed.
		time.Sleep(5 * time.Second)
		n, _ = retries(t, r)
		assert.Zero(t, n)
		time.Sleep(5 * time.Second)
		// Only the last call (no retries) and this one remain.
		n, _ = retries(t, r)
		assert.Equal(t, 2, n)
	})
}

func TestBudgetSharedByConcurrentCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const callers = 20 // 10 through each of two policies
		b := budget.Must(budget.Config{Ratio: 0.5, MinExtra: 5})
		policies := []*retry.Retry{
			newRetry(t, retry.Config{Name: "a", MaxAttempts: retry.Unlimited, BackOff: zero, Budget: b}),
			newRetry(t, retry.Config{Name: "b", MaxAttempts: retry.Unlimited, BackOff: zero, Budget: b}),
		}
		var (
			started sync.WaitGroup
			done    sync.WaitGroup
			runs    atomic.Int64
			denied  atomic.Int64
		)
		started.Add(callers)
		for i := range callers {
			done.Go(func() {
				err := policies[i%2].Execute(context.Background(), func(ctx context.Context) error {
					runs.Add(1)
					if retry.Attempt(ctx) == 1 {
						// Every call is counted before any retry.
						started.Done()
						started.Wait()
					}
					return errBoom
				})
				if assert.ErrorIs(t, err, retry.ErrBudgetExhausted) {
					denied.Add(1)
				}
			})
		}
		done.Wait()
		assert.EqualValues(t, callers, denied.Load(), "every caller ends denied")
		// MinExtra + Ratio × calls = 5 + 0.5 × 20 retries, no more.
		assert.EqualValues(t, callers+15, runs.Load())
	})
}

func TestBudgetConcurrentStress(t *testing.T) {
	// Real time and real concurrency, for the race detector: whatever the
	// interleaving, retries never exceed the budget.
	b := budget.Must(budget.Config{Ratio: 0.1, MinExtra: 3, Window: time.Hour})
	r := newRetry(t, retry.Config{MaxAttempts: 4, BackOff: zero, Budget: b})
	var (
		wg                      sync.WaitGroup
		calls, runs             atomic.Int64
		ok, exhausted, rejected atomic.Int64
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				calls.Add(1)
				err := r.Execute(t.Context(), func(ctx context.Context) error {
					runs.Add(1)
					if (g+i)%3 == 0 {
						return errBoom
					}
					return nil
				})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, retry.ErrExhausted):
					exhausted.Add(1)
				case assert.ErrorIs(t, err, retry.ErrBudgetExhausted):
					rejected.Add(1)
				}
			}
		})
	}
	wg.Wait()
	retried := runs.Load() - calls.Load()
	assert.LessOrEqual(t, float64(retried), 3+0.1*float64(calls.Load()))
	assert.Positive(t, rejected.Load())
	assert.Equal(t, calls.Load(), ok.Load()+exhausted.Load()+rejected.Load())
}
