package hedge_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/hedge"
	"github.com/palisade-go/palisade/telemetry"
)

func TestQuantileDelayFollowsTheDependency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hd := hedge.Must(hedge.Config{Quantile: 0.9, MaxExtraRatio: 1, Telemetry: telemetry.Disabled()})
		_, ok := hd.Delay()
		require.False(t, ok, "no estimate before any call")
		var attempts atomic.Int64
		call := func(d time.Duration) {
			t.Helper()
			require.NoError(t, hd.Execute(context.Background(), func(ctx context.Context) error {
				attempts.Add(1)
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
				return nil
			}))
		}
		// Slow calls while there is no estimate yet are not hedged.
		for range 5 {
			call(time.Second)
		}
		assert.Equal(t, int64(5), attempts.Load())
		for range 95 {
			call(2 * time.Millisecond)
		}
		d, ok := hd.Delay()
		require.True(t, ok)
		assert.InDelta(t, 2*time.Millisecond, d, float64(200*time.Microsecond), "the p90 of 2ms calls, within a bucket")

		// A slow call is hedged after the estimate, and the hedge (fast
		// again) wins.
		attempts.Store(0)
		start := time.Now()
		require.NoError(t, hd.Execute(context.Background(), func(ctx context.Context) error {
			attempts.Add(1)
			dur := 2 * time.Millisecond
			if hedge.Attempt(ctx) == 1 {
				dur = time.Second
			}
			select {
			case <-time.After(dur):
			case <-ctx.Done():
			}
			return nil
		}))
		assert.Equal(t, int64(2), attempts.Load())
		assert.Equal(t, d+2*time.Millisecond, time.Since(start))
	})
}

// The quantile must not shrink under its own hedging: a loser counts the
// time it ran. With 30% of calls slow, a p80 estimate lands among the slow
// ones only if the slow attempts cut short are counted.
func TestQuantileCountsLosers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hd := hedge.Must(hedge.Config{Quantile: 0.5, MaxExtraRatio: 10, Telemetry: telemetry.Disabled()})
		n := 0
		for range 400 {
			n++
			slow := n%10 < 6 // 60% of first attempts are slow; hedges are fast
			require.NoError(t, hd.Execute(context.Background(), func(ctx context.Context) error {
				d := time.Millisecond
				if slow && hedge.Attempt(ctx) == 1 {
					d = 50 * time.Millisecond
				}
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
				return nil
			}))
		}
		d, ok := hd.Delay()
		require.True(t, ok)
		// The median first attempt is slow (50ms); counting only winners
		// (all of them ~1ms after the hedge) would put it near 1ms and
		// hedge every call at once.
		assert.Greater(t, d, 1100*time.Microsecond, "estimate %v", d)
	})
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []struct {
		cfg   hedge.Config
		field string
	}{
		{hedge.Config{Delay: -1}, "Config.Delay"},
		{hedge.Config{Delay: time.Millisecond, Quantile: 0.9}, "Config.Quantile"},
		{hedge.Config{Quantile: 1}, "Config.Quantile"},
		{hedge.Config{Quantile: -0.5}, "Config.Quantile"},
		{hedge.Config{MaxHedges: -1}, "Config.MaxHedges"},
		{hedge.Config{MaxExtraRatio: -1}, "Config.MaxExtraRatio"},
		{hedge.Config{Budget: budget.Must(budget.Config{}), MaxExtraRatio: 0.2}, "Config.MaxExtraRatio"},
	} {
		_, err := hedge.New(c.cfg)
		require.Error(t, err, "%+v", c.cfg)
		assert.Contains(t, err.Error(), c.field)
		assert.Panics(t, func() { hedge.Must(c.cfg) })
	}
	hd := hedge.Must(hedge.Config{})
	assert.Equal(t, hedge.DefaultName, hd.Name())
	_, ok := hd.Delay()
	assert.False(t, ok)
	d, ok := hedge.Must(hedge.Config{Delay: time.Second}).Delay()
	assert.True(t, ok)
	assert.Equal(t, time.Second, d)
}

// On the real clock: a winner returns while a loser still runs, and once
// the loser has seen its context end no goroutine is left.
func TestNoGoroutineOutlivesItsAttempt(t *testing.T) {
	hd := hedge.Must(hedge.Config{Delay: time.Millisecond, MaxHedges: 3, MaxExtraRatio: 10, Telemetry: telemetry.Disabled()})
	loserDone := make(chan struct{}, 3)
	err := hd.Execute(context.Background(), func(ctx context.Context) error {
		if hedge.Attempt(ctx) == 4 {
			return nil
		}
		defer func() { loserDone <- struct{}{} }()
		<-ctx.Done()
		if !errors.Is(context.Cause(ctx), hedge.ErrLost) {
			t.Errorf("loser's cause %v", context.Cause(ctx))
		}
		return ctx.Err()
	})
	require.NoError(t, err)
	for range 3 {
		<-loserDone
	}
	goleak.VerifyNone(t)
}

// A loser that panics after the call returned cannot reach the caller: it
// crashes the program, as any goroutine's panic does, rather than vanish.
// The crash runs in a child process.
func TestLatePanicCrashes(t *testing.T) {
	if os.Getenv("HEDGE_LATE_PANIC") == "1" {
		hd := hedge.Must(hedge.Config{Delay: time.Millisecond, MaxExtraRatio: 10, Telemetry: telemetry.Disabled()})
		_ = hd.Execute(context.Background(), func(ctx context.Context) error {
			if hedge.Attempt(ctx) == 2 {
				return nil
			}
			<-ctx.Done()
			panic("late loser panic")
		})
		time.Sleep(10 * time.Second) // the crash comes first
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLatePanicCrashes$")
	cmd.Env = append(os.Environ(), "HEDGE_LATE_PANIC=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the child exited cleanly: %s", out)
	assert.Equal(t, 2, exit.ExitCode())
	assert.True(t, strings.Contains(string(out), "panic: late loser panic"), "%s", out)
}
