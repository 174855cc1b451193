package breaker_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/telemetry"
)

// fuzzLargeWindow bounds the count windows FuzzConfig builds: a window of
// MaxWindowSize takes 64 MiB, too much for every execution. Larger valid
// sizes are folded below it; TestGoodConfigBoundaries builds the largest.
const fuzzLargeWindow = 1 << 16

// fuzzMaxSleep is the longest FuzzConfig sleeps: synctest's clock starts in
// 2000 and its monotonic readings end in 2262.
const fuzzMaxSleep = 100 * 365 * 24 * time.Hour

func validRatio(r float64) bool { return r > 0 && r <= 1 }

// FuzzConfig checks New on any Config: it never panics, it refuses exactly
// the configurations the Config documentation calls invalid, with an error
// naming one of the offending fields, and a valid one builds a breaker that
// — on synctest's clock — opens after exactly as many failures as its
// MinimumThroughput or ConsecutiveFailures call for, rejects with the whole
// break as RetryAfter, is half-open from the instant the break ends, and
// closes after exactly SuccessThreshold successful trial calls.
func FuzzConfig(f *testing.F) {
	type seed struct {
		failureRatio                  float64
		minimumThroughput, windowSize int
		windowDuration, slowCall      int64
		slowCallRatio                 float64
		consecutive                   int
		breakDuration                 int64
		successThreshold, halfOpen    int
	}
	for _, s := range []seed{
		{},
		{failureRatio: 0.5, minimumThroughput: 5, windowSize: 10, breakDuration: int64(time.Second), successThreshold: 2},
		{windowDuration: int64(time.Minute), minimumThroughput: 20, consecutive: 3},
		{slowCall: int64(time.Second), slowCallRatio: 0.5},
		{slowCallRatio: 0.5},
		{failureRatio: math.NaN()},
		{failureRatio: 1.5},
		{failureRatio: -0.5},
		{minimumThroughput: -1},
		{minimumThroughput: 101},
		{windowSize: 5, minimumThroughput: 6},
		{windowSize: -1},
		{windowSize: breaker.MaxWindowSize + 1},
		{windowSize: 10, windowDuration: int64(time.Second)},
		{windowDuration: 9},
		{windowDuration: -1},
		{slowCall: -1},
		{slowCall: 1, slowCallRatio: math.Inf(1)},
		{consecutive: -1},
		{breakDuration: -1},
		{successThreshold: -1},
		{halfOpen: -1},
		{breakDuration: math.MaxInt64, successThreshold: math.MaxInt, halfOpen: math.MaxInt},
		{windowDuration: math.MaxInt64, minimumThroughput: math.MaxInt},
	} {
		f.Add(s.failureRatio, s.minimumThroughput, s.windowSize, s.windowDuration, s.slowCall, s.slowCallRatio,
			s.consecutive, s.breakDuration, s.successThreshold, s.halfOpen)
	}
	f.Fuzz(func(t *testing.T, failureRatio float64, minimumThroughput, windowSize int, windowDuration, slowCall int64,
		slowCallRatio float64, consecutive int, breakDuration int64, successThreshold, halfOpenCalls int) {
		if windowSize > fuzzLargeWindow && windowSize <= breaker.MaxWindowSize {
			windowSize %= fuzzLargeWindow
		}
		cfg := breaker.Config{
			FailureRatio:        failureRatio,
			MinimumThroughput:   minimumThroughput,
			WindowSize:          windowSize,
			WindowDuration:      time.Duration(windowDuration),
			SlowCallDuration:    time.Duration(slowCall),
			SlowCallRatio:       slowCallRatio,
			ConsecutiveFailures: consecutive,
			BreakDuration:       time.Duration(breakDuration),
			SuccessThreshold:    successThreshold,
			HalfOpenCalls:       halfOpenCalls,
			Telemetry:           telemetry.Disabled(),
		}

		// The rules of the Config documentation, and the defaults.
		var invalid []string
		bad := func(fields ...string) { invalid = append(invalid, fields...) }
		if failureRatio != 0 && !validRatio(failureRatio) {
			bad("Config.FailureRatio")
		}
		if minimumThroughput < 0 {
			bad("Config.MinimumThroughput")
		}
		if windowSize < 0 || windowSize > breaker.MaxWindowSize {
			bad("Config.WindowSize")
		}
		if windowDuration < 0 || windowDuration > 0 && windowDuration < breaker.Buckets {
			bad("Config.WindowDuration")
		}
		if windowDuration > 0 && windowSize != 0 {
			bad("Config.WindowSize", "Config.WindowDuration")
		}
		size := windowSize
		if windowDuration <= 0 && size == 0 {
			size = breaker.DefaultWindowSize
		}
		if windowDuration <= 0 && size > 0 && minimumThroughput > size {
			bad("Config.MinimumThroughput")
		}
		if windowDuration > 0 && windowSize == 0 && minimumThroughput > breaker.MaxWindowSize {
			bad("Config.MinimumThroughput") // a time window that could in effect never open
		}
		if slowCall < 0 {
			bad("Config.SlowCallDuration")
		}
		if slowCallRatio != 0 && (!validRatio(slowCallRatio) || slowCall == 0) {
			bad("Config.SlowCallRatio")
		}
		if consecutive < 0 {
			bad("Config.ConsecutiveFailures")
		}
		if breakDuration < 0 {
			bad("Config.BreakDuration")
		}
		if successThreshold < 0 {
			bad("Config.SuccessThreshold")
		}
		if halfOpenCalls < 0 {
			bad("Config.HalfOpenCalls")
		}

		b, err := breaker.New(cfg)
		if len(invalid) > 0 {
			if err == nil || b != nil {
				t.Fatalf("invalid %v accepted: %+v", invalid, cfg)
			}
			for _, field := range invalid {
				if strings.Contains(err.Error(), field) {
					return
				}
			}
			t.Fatalf("error %q names none of the invalid fields %v", err, invalid)
		}
		if err != nil {
			t.Fatalf("valid %+v refused: %v", cfg, err)
		}
		if b.State() != breaker.Closed || b.Name() != "breaker" {
			t.Fatalf("new breaker: %v, %q", b.State(), b.Name())
		}

		// The failures that open it: every call fails, so the failure ratio
		// is 1, at or above any FailureRatio.
		if windowDuration > 0 {
			size = 0
		}
		minimum := minimumThroughput
		if minimum == 0 {
			minimum = breaker.DefaultMinimumThroughput
			if size > 0 {
				minimum = min(minimum, size)
			}
		}
		opensAfter := max(minimum, 1)
		if consecutive > 0 {
			opensAfter = min(opensAfter, consecutive)
		}
		brk := time.Duration(breakDuration)
		if brk == 0 {
			brk = breaker.DefaultBreakDuration
		}
		threshold := successThreshold
		if threshold == 0 {
			threshold = breaker.DefaultSuccessThreshold
		}
		if opensAfter > 2000 {
			return // too many calls to make
		}
		synctest.Test(t, func(t *testing.T) {
			b := breaker.Must(cfg)
			errFn := errors.New("down")
			for i := 1; i <= opensAfter; i++ {
				err := b.Execute(context.Background(), func(context.Context) error { return errFn })
				if err != errFn {
					t.Fatalf("failure %d came back as %v", i, err)
				}
				if want := map[bool]breaker.State{false: breaker.Closed, true: breaker.Open}[i == opensAfter]; b.State() != want {
					t.Fatalf("after %d failures (opens after %d): %v", i, opensAfter, b.State())
				}
			}
			m := b.Metrics()
			wantCalls := opensAfter
			if size > 0 {
				wantCalls = min(opensAfter, size)
			}
			if m.Calls != wantCalls || m.Failures != wantCalls || m.TotalCalls != int64(opensAfter) {
				t.Fatalf("open: %+v, want %d calls in the window, %d in all", m, wantCalls, opensAfter)
			}
			err := b.Execute(context.Background(), func(context.Context) error {
				t.Fatal("open breaker ran its function")
				return nil
			})
			if hint, ok := policy.RetryAfter(err); !errors.Is(err, breaker.ErrOpen) || !ok || hint != brk {
				t.Fatalf("open breaker returned %v, RetryAfter %v (%v), break %v", err, hint, ok, brk)
			}
			if brk > fuzzMaxSleep || threshold > 2000 {
				return
			}
			time.Sleep(brk - 1)
			if b.State() != breaker.Open {
				t.Fatalf("1ns before the break ends: %v", b.State())
			}
			time.Sleep(1)
			if b.State() != breaker.HalfOpen {
				t.Fatalf("at the end of the break: %v", b.State())
			}
			for i := 1; i <= threshold; i++ {
				if err := b.Execute(context.Background(), func(context.Context) error { return nil }); err != nil {
					t.Fatalf("trial call %d: %v", i, err)
				}
				if want := map[bool]breaker.State{false: breaker.HalfOpen, true: breaker.Closed}[i == threshold]; b.State() != want {
					t.Fatalf("after %d trial successes (threshold %d): %v", i, threshold, b.State())
				}
			}
			if m := b.Metrics(); m.Calls != 0 || m.ConsecutiveFailures != 0 {
				t.Fatalf("closed again: %+v, want a fresh window", m)
			}
		})
	})
}
