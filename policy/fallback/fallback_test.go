package fallback_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/fallback"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	errBoom   = errors.New("boom")
	errCached = errors.New("served from cache")
)

type typedErr struct{}

func (typedErr) Error() string     { return "typed" }
func (typedErr) ErrorType() string { return "my_type" }

func TestReplacesHandledErrors(t *testing.T) {
	var got []error
	f := fallback.Must(fallback.Config{
		Fallback: func(_ context.Context, err error) error {
			got = append(got, err)
			if errors.Is(err, errBoom) {
				return nil // a success: say, a cached answer
			}
			return errCached
		},
		Telemetry: telemetry.Disabled(),
	})
	ctx := context.Background()
	assert.NoError(t, f.Execute(ctx, func(context.Context) error { return errBoom }))
	assert.Same(t, errCached, f.Execute(ctx, func(context.Context) error { return typedErr{} }))
	assert.NoError(t, f.Execute(ctx, func(context.Context) error { return nil }))
	assert.Equal(t, []error{errBoom, typedErr{}}, got, "called for failures only, with their error")
	assert.Equal(t, fallback.DefaultName, f.Name())
	assert.Equal(t, policy.SequentialAttempts, f.AttemptMode())
}

func TestCallersCancellationIsNotReplaced(t *testing.T) {
	f := fallback.Must(fallback.Config{
		Fallback:  func(context.Context, error) error { t.Error("fallback used"); return nil },
		Telemetry: telemetry.Disabled(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := f.Execute(ctx, func(ctx context.Context) error { return errBoom })
	assert.Same(t, errBoom, err, "whatever fn returns once its caller cancelled")
}

func TestCallersDeadlineIsReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := fallback.Must(fallback.Config{
			Fallback:  func(context.Context, error) error { return nil },
			Telemetry: telemetry.Disabled(),
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		assert.NoError(t, f.Execute(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }))
	})
}

func TestHandlesChoosesWhatIsReplaced(t *testing.T) {
	f := fallback.Must(fallback.Config{
		Handles:   func(err error) bool { return errors.Is(err, breaker.ErrOpen) || errors.Is(err, timeout.ErrTimeout) },
		Fallback:  func(context.Context, error) error { return nil },
		Telemetry: telemetry.Disabled(),
	})
	ctx := context.Background()
	assert.Same(t, errBoom, f.Execute(ctx, func(context.Context) error { return errBoom }))
	assert.NoError(t, f.Execute(ctx, func(context.Context) error { return breaker.ErrOpen }))
	assert.NoError(t, f.Execute(ctx, func(context.Context) error { return &timeout.Error{Err: errBoom} }))
}

func TestPanicsGoThrough(t *testing.T) {
	f := fallback.Must(fallback.Config{
		Fallback:  func(context.Context, error) error { panic("in fallback") },
		Telemetry: telemetry.Disabled(),
	})
	assert.PanicsWithValue(t, "in fn", func() { _ = f.Execute(context.Background(), func(context.Context) error { panic("in fn") }) })
	assert.PanicsWithValue(t, "in fallback", func() { _ = f.Execute(context.Background(), func(context.Context) error { return errBoom }) })
}

func TestTelemetryCountsUsesByErrorType(t *testing.T) {
	h := oteltest.New()
	f := fallback.Must(fallback.Config{
		Name:      "cache",
		Fallback:  func(context.Context, error) error { return nil },
		Telemetry: h.Telemetry,
	})
	assert.Nil(t, h.Metric(t, "palisade.fallback.uses"), "no series before the first use: error types are unknown")
	span := h.InSpan(t, func(ctx context.Context) {
		for _, err := range []error{errBoom, typedErr{}, typedErr{}, breaker.ErrOpen} {
			require.NoError(t, f.Execute(ctx, func(context.Context) error { return err }))
		}
	})
	got := map[string]int64{}
	for _, dp := range h.Sum(t, "palisade.fallback.uses") {
		name, _ := dp.Attributes.Value("palisade.policy.name")
		assert.Equal(t, "cache", name.AsString())
		et, _ := dp.Attributes.Value("error.type")
		got[et.AsString()] = dp.Value
	}
	assert.Equal(t, map[string]int64{"*errors.errorString": 1, "my_type": 2, "circuit_open": 1}, got)
	require.Len(t, span.Events(), 4)
	assert.Equal(t, "palisade.fallback", span.Events()[0].Name)
}

func TestGetReplacesTheValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := telemetry.Disabled()
		p := policy.NewPipeline("p", timeout.Must(timeout.Config{Duration: time.Second, Telemetry: tel})).WithTelemetry(tel)
		slow := func(ctx context.Context) (string, error) { <-ctx.Done(); return "partial", ctx.Err() }
		cached := func(_ context.Context, err error) (string, error) {
			assert.ErrorIs(t, err, timeout.ErrTimeout)
			return "cached", nil
		}
		v, err := fallback.Get(context.Background(), p, slow, cached)
		require.NoError(t, err)
		assert.Equal(t, "cached", v)

		v, err = fallback.Get(context.Background(), nil, func(context.Context) (string, error) { return "fresh", nil }, cached)
		assert.NoError(t, err)
		assert.Equal(t, "fresh", v)

		// The caller's cancellation: the call's own value and error.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		v, err = fallback.Get(ctx, p, slow, cached)
		assert.Equal(t, context.Canceled, err)
		assert.Equal(t, "partial", v)

		assert.Panics(t, func() { _, _ = fallback.Get[int](context.Background(), nil, nil, nil) })
	})
}

func TestConfigValidation(t *testing.T) {
	_, err := fallback.New(fallback.Config{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.Fallback")
	assert.Panics(t, func() { fallback.Must(fallback.Config{}) })
}
