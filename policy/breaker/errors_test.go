package breaker_test

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
)

// Every rejection is a *breaker.Error naming the breaker and the state that
// rejected; only the open one carries a hint.
func TestRejectionsAreErrorsNamingBreakerAndState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := tripped(t, breaker.Config{Name: "payments", BreakDuration: time.Minute, HalfOpenCalls: 1})

		check := func(err error, state breaker.State, hint bool) {
			t.Helper()
			e, ok := errors.AsType[*breaker.Error](err)
			require.True(t, ok, "%T %v", err, err)
			assert.Equal(t, breaker.Error{Policy: "payments", State: state}, *e)
			assert.ErrorIs(t, err, breaker.ErrOpen)
			assert.ErrorIs(t, err, policy.ErrRejected)
			_, hasHint := policy.RetryAfter(err)
			assert.Equal(t, hint, hasHint, "RetryAfter")
			assert.Equal(t, "circuit_open", err.(interface{ ErrorType() string }).ErrorType())
			assert.Contains(t, err.Error(), "palisade/breaker: payments: ")
		}

		check(b.Execute(ctx, ok), breaker.Open, true)

		time.Sleep(time.Minute)
		permit, err := b.Allow() // the only trial call
		require.NoError(t, err)
		check(b.Execute(ctx, ok), breaker.HalfOpen, false)
		permit.Release()

		b.Isolate()
		check(b.Execute(ctx, ok), breaker.Isolated, false)
	})
}

func TestErrorMessages(t *testing.T) {
	for state, want := range map[breaker.State]string{
		breaker.Open:     "palisade/breaker: db: circuit open",
		breaker.HalfOpen: "palisade/breaker: db: circuit half-open, every trial call taken",
		breaker.Isolated: "palisade/breaker: db: circuit isolated",
	} {
		assert.Equal(t, want, (&breaker.Error{Policy: "db", State: state}).Error())
	}
}

// The default name is kept but documented; an error of an unnamed breaker
// still says it is the breaker's.
func TestDefaultNameInErrors(t *testing.T) {
	b := tripped(t, breaker.Config{})
	err := b.Execute(context.Background(), ok)
	e, ok := errors.AsType[*breaker.Error](err)
	require.True(t, ok)
	assert.Equal(t, breaker.DefaultName, e.Policy)
	assert.Equal(t, "palisade/breaker: breaker: circuit open", err.Error())
}

// Rejecting allocates nothing, in every rejecting state.
func TestRejectingAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	b := tripped(t, breaker.Config{BreakDuration: time.Hour})
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = b.Execute(ctx, ok) }), "open")
	b.Isolate()
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = b.Execute(ctx, ok) }), "isolated")
}
