package throttle_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/throttle"
	"github.com/palisade-go/palisade/telemetry"
)

var errUnavailable = errors.New("503")

func newThrottle(t *testing.T, cfg throttle.Config) *throttle.Throttle {
	t.Helper()
	if cfg.Telemetry == nil {
		cfg.Telemetry = telemetry.Disabled()
	}
	th, err := throttle.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// TestHealthyNeverRejects: while every call succeeds nothing is rejected.
func TestHealthyNeverRejects(t *testing.T) {
	th := newThrottle(t, throttle.Config{})
	for range 10000 {
		if err := th.Execute(context.Background(), func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if th.RejectRatio() != 0 {
		t.Fatalf("RejectRatio %v", th.RejectRatio())
	}
}

// TestFormula: the ratio is max(0, (requests − K·accepts)/(requests + 1)).
func TestFormula(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(t, throttle.Config{K: 1.5})
		// 4 accepted, then failures until one is rejected: the ratio before
		// each call is (n − 6)/(n + 1) for n requests so far.
		for range 4 {
			_ = th.Execute(t.Context(), func(context.Context) error { return nil })
		}
		_ = th.Execute(t.Context(), func(context.Context) error { return errUnavailable })
		_ = th.Execute(t.Context(), func(context.Context) error { return errUnavailable })
		if got := th.RejectRatio(); got != 0 {
			t.Fatalf("6 requests, 4 accepts, K 1.5: ratio %v, want 0", got)
		}
		_ = th.Execute(t.Context(), func(context.Context) error { return errUnavailable })
		if got, want := th.RejectRatio(), 1.0/8; math.Abs(got-want) > 1e-12 {
			t.Fatalf("7 requests, 4 accepts, K 1.5: ratio %v, want %v", got, want)
		}
	})
}

// TestOverloadSendsAboutKTimesAccepts: a dependency that can accept C calls
// per second, asked for 4C: the throttle lets through about K × C = 2C,
// rejecting the rest itself.
func TestOverloadSendsAboutKTimesAccepts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(t, throttle.Config{Window: 10 * time.Second})
		const capacity = 100 // per second
		var sent, accepted, rejected int
		tokens, last := float64(capacity)/10, time.Now()
		for i := range 400 * 30 { // 400/s for 30s
			time.Sleep(2500 * time.Microsecond)
			tokens = min(tokens+time.Since(last).Seconds()*capacity, capacity/10)
			last = time.Now()
			err := th.Execute(t.Context(), func(context.Context) error {
				sent++
				if tokens >= 1 {
					tokens--
					return nil
				}
				return errUnavailable
			})
			if i < 400*10 {
				sent, accepted, rejected = 0, 0, 0 // warm-up: one window
				continue
			}
			switch {
			case err == nil:
				accepted++
			case errors.Is(err, throttle.ErrThrottled):
				rejected++
			}
		}
		perSecond := float64(sent) / 20
		t.Logf("sent %.0f/s, accepted %.0f/s, rejected by the throttle %.0f/s", perSecond, float64(accepted)/20, float64(rejected)/20)
		if perSecond < 1.6*capacity || perSecond > 2.4*capacity {
			t.Fatalf("sent %.0f/s to a dependency of %d/s, want about 2×", perSecond, capacity)
		}
	})
}

// TestRecovers: after the failures leave the window, nothing is rejected.
func TestRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(t, throttle.Config{Window: time.Minute})
		for range 100 {
			_ = th.Execute(t.Context(), func(context.Context) error { return errUnavailable })
		}
		if th.RejectRatio() < 0.9 {
			t.Fatalf("ratio %v after 100 failures", th.RejectRatio())
		}
		time.Sleep(time.Minute + time.Minute/16)
		if th.RejectRatio() != 0 {
			t.Fatalf("ratio %v once the failures left the window", th.RejectRatio())
		}
	})
}

// TestRejection: the error, unchanged fn errors, and that a rejected call
// counts as a request.
func TestRejection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		th := newThrottle(t, throttle.Config{Name: "api", Telemetry: h.Telemetry})
		if err := th.Execute(t.Context(), func(context.Context) error { return errUnavailable }); err != errUnavailable {
			t.Fatalf("fn error came back as %v", err)
		}
		var err error
		for err == nil || err == errUnavailable {
			err = th.Execute(t.Context(), func(context.Context) error { return errUnavailable })
		}
		if !errors.Is(err, throttle.ErrThrottled) || !errors.Is(err, policy.ErrRejected) || telemetry.ErrorType(err) != "throttled" {
			t.Fatalf("rejection %v (%s)", err, telemetry.ErrorType(err))
		}
		if err.Error() != "palisade/throttle: api: call throttled, the dependency is refusing work" {
			t.Fatalf("message %q", err)
		}
		if h.Total(t, "palisade.rejected_calls") != 1 {
			t.Fatalf("rejected_calls %d", h.Total(t, "palisade.rejected_calls"))
		}
		m := h.Metric(t, "palisade.throttle.reject_ratio")
		if m == nil {
			t.Fatal("no reject_ratio gauge")
		}
	})
}

// TestCancellationCountsNeitherWay: calls whose caller gave up do not push
// the ratio up.
func TestCancellationCountsNeitherWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(t, throttle.Config{})
		for range 100 {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_ = th.Execute(ctx, func(ctx context.Context) error { return ctx.Err() })
		}
		_ = th.Execute(t.Context(), func(context.Context) error { return errUnavailable })
		if got := th.RejectRatio(); got != 0.5 {
			t.Fatalf("ratio %v, want 0.5 (one request, no accept)", got)
		}
	})
}

// TestPanic: the panic goes on; the call counts as a request not accepted.
func TestPanic(t *testing.T) {
	th := newThrottle(t, throttle.Config{})
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v", p)
			}
		}()
		_ = th.Execute(context.Background(), func(context.Context) error { panic("boom") })
	}()
	if th.RejectRatio() != 0.5 {
		t.Fatalf("ratio %v", th.RejectRatio())
	}
}

// TestConcurrentCounts: thousands of goroutines at once; afterwards the
// ratio is exactly the formula's on what they saw (every call a request,
// every nil error an accept), so no count was lost to a race.
func TestConcurrentCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(t, throttle.Config{K: 1})
		var requests, accepts atomic.Int64
		var wg sync.WaitGroup
		for g := range 2000 {
			wg.Go(func() {
				for i := range 10 {
					requests.Add(1)
					err := th.Execute(t.Context(), func(context.Context) error {
						if (g+i)%3 == 0 {
							return errUnavailable
						}
						return nil
					})
					if err == nil {
						accepts.Add(1)
					}
				}
			})
		}
		wg.Wait()
		r, a := float64(requests.Load()), float64(accepts.Load())
		if got, want := th.RejectRatio(), max(0, (r-a)/(r+1)); math.Abs(got-want) > 1e-12 {
			t.Fatalf("ratio %v, want %v (requests %v, accepts %v)", got, want, r, a)
		}
	})
}
