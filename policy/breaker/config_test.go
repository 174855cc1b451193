package breaker_test

import (
	"context"
	"math"
	"regexp"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
)

func TestBadConfigNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		field string
		cfg   breaker.Config
	}{
		{"Config.FailureRatio", breaker.Config{FailureRatio: -0.1}},
		{"Config.FailureRatio", breaker.Config{FailureRatio: 1.5}},
		{"Config.FailureRatio", breaker.Config{FailureRatio: math.NaN()}},
		{"Config.MinimumThroughput", breaker.Config{MinimumThroughput: -1}},
		{"Config.MinimumThroughput", breaker.Config{WindowSize: 5, MinimumThroughput: 6}},
		{"Config.MinimumThroughput", breaker.Config{WindowDuration: time.Minute, MinimumThroughput: math.MaxInt}},
		{"Config.MinimumThroughput", breaker.Config{WindowDuration: time.Minute, MinimumThroughput: breaker.MaxWindowSize + 1}},
		{"Config.WindowSize", breaker.Config{WindowSize: -1}},
		{"Config.WindowSize", breaker.Config{WindowSize: breaker.MaxWindowSize + 1}},
		{"Config.WindowSize", breaker.Config{WindowSize: 100, WindowDuration: time.Minute}},
		{"Config.WindowDuration", breaker.Config{WindowDuration: -time.Second}},
		{"Config.WindowDuration", breaker.Config{WindowDuration: 9}},
		{"Config.SlowCallDuration", breaker.Config{SlowCallDuration: -time.Second}},
		{"Config.SlowCallRatio", breaker.Config{SlowCallDuration: time.Second, SlowCallRatio: 2}},
		{"Config.SlowCallRatio", breaker.Config{SlowCallDuration: time.Second, SlowCallRatio: -1}},
		{"Config.SlowCallRatio", breaker.Config{SlowCallRatio: 0.5}}, // without SlowCallDuration
		{"Config.ConsecutiveFailures", breaker.Config{ConsecutiveFailures: -1}},
		{"Config.BreakDuration", breaker.Config{BreakDuration: -time.Second}},
		{"Config.SuccessThreshold", breaker.Config{SuccessThreshold: -1}},
		{"Config.HalfOpenCalls", breaker.Config{HalfOpenCalls: -1}},
		{"Config.MaxBreakFromRetryAfter", breaker.Config{BreakFromRetryAfter: true, MaxBreakFromRetryAfter: -1}},
		{"Config.MaxBreakFromRetryAfter", breaker.Config{MaxBreakFromRetryAfter: time.Minute}}, // without BreakFromRetryAfter
	} {
		t.Run(tc.field, func(t *testing.T) {
			b, err := breaker.New(tc.cfg)
			assert.Nil(t, b)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.field)
			assert.Contains(t, err.Error(), "palisade/breaker: ")
			// One style for every package: "palisade/<pkg>: Config.<Field> must be ..., got ...".
			assert.Regexp(t, `^palisade/breaker: `+regexp.QuoteMeta(tc.field)+` must be .+, got .+$`, err.Error())
			assert.PanicsWithError(t, err.Error(), func() { breaker.Must(tc.cfg) })
		})
	}
}

func TestGoodConfigBoundaries(t *testing.T) {
	for _, cfg := range []breaker.Config{
		{FailureRatio: 1},
		{WindowSize: 5, MinimumThroughput: 5},
		{WindowSize: breaker.MaxWindowSize},
		{WindowDuration: 10},
		{WindowDuration: time.Minute, MinimumThroughput: breaker.MaxWindowSize},
		{SlowCallDuration: time.Second, SlowCallRatio: 1},
		{BreakDuration: time.Nanosecond, BreakDurationFunc: func(int) time.Duration { return time.Second }},
	} {
		_, err := breaker.New(cfg)
		assert.NoError(t, err, "%+v", cfg)
	}
}

// The zero Config: ratio 0.5 over the last 100 calls once 10 are in, 30s
// break, 3 trial calls at once of which 3 successes close.
func TestZeroConfigDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, breaker.Config{})
		assert.Equal(t, "breaker", b.Name())
		run(t, b, 9, fail)
		require.Equal(t, breaker.Closed, b.State(), "MinimumThroughput 10")
		run(t, b, 91, ok)
		run(t, b, 49, fail)
		m := b.Metrics()
		require.Equal(t, breaker.Closed, m.State)
		assert.Equal(t, 100, m.Calls, "WindowSize 100")
		assert.Equal(t, 49, m.Failures, "the first 9 failures slid out")
		run(t, b, 1, fail)
		require.Equal(t, breaker.Open, b.State(), "FailureRatio 0.5")

		d, _ := policy.RetryAfter(b.Execute(context.Background(), ok))
		assert.Equal(t, 30*time.Second, d, "BreakDuration 30s")
		time.Sleep(30 * time.Second)

		var permits []breaker.Permit
		for range 3 {
			p, err := b.Allow()
			require.NoError(t, err)
			permits = append(permits, p)
		}
		_, err := b.Allow()
		require.ErrorIs(t, err, breaker.ErrOpen, "HalfOpenCalls defaults to SuccessThreshold, 3")
		for i := range permits {
			assert.Equal(t, breaker.HalfOpen, b.State())
			permits[i].Done(nil)
		}
		assert.Equal(t, breaker.Closed, b.State(), "SuccessThreshold 3")
	})
}
