package breaker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/telemetry"
)

var errDown = errors.New("dependency down")

func fail(context.Context) error { return errDown }
func ok(context.Context) error   { return nil }

// sleepThen returns a function that takes d, then returns err.
func sleepThen(d time.Duration, err error) func(context.Context) error {
	return func(context.Context) error {
		time.Sleep(d)
		return err
	}
}

// newBreaker builds a breaker with telemetry disabled unless cfg sets it.
func newBreaker(t *testing.T, cfg breaker.Config) *breaker.Breaker {
	t.Helper()
	if cfg.Telemetry == nil {
		cfg.Telemetry = telemetry.Disabled()
	}
	b, err := breaker.New(cfg)
	require.NoError(t, err)
	return b
}

// run executes fn n times through b, requiring that none is rejected.
func run(t *testing.T, b *breaker.Breaker, n int, fn func(context.Context) error) {
	t.Helper()
	for i := range n {
		err := b.Execute(context.Background(), fn)
		require.NotErrorIs(t, err, breaker.ErrOpen, "call %d of %d rejected", i+1, n)
	}
}

// tripped returns a breaker with the config cfg that has just opened, after
// ConsecutiveFailures (default 1) failures.
func tripped(t *testing.T, cfg breaker.Config) *breaker.Breaker {
	t.Helper()
	if cfg.ConsecutiveFailures == 0 {
		cfg.ConsecutiveFailures = 1
	}
	b := newBreaker(t, cfg)
	run(t, b, cfg.ConsecutiveFailures, fail)
	require.Equal(t, breaker.Open, b.State())
	return b
}

// recorder records OnStateChange calls.
type recorder struct {
	got []string
}

func (r *recorder) onChange(from, to breaker.State) {
	r.got = append(r.got, from.String()+"->"+to.String())
}
