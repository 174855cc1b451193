package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/ratelimit"
	"github.com/palisade-go/palisade/telemetry"
)

func newLimiter(t testing.TB, cfg ratelimit.Config) *ratelimit.RateLimiter {
	t.Helper()
	if cfg.Telemetry == nil {
		cfg.Telemetry = telemetry.Disabled()
	}
	l, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func ok(context.Context) error { return nil }

// TestSmooth: with Burst 1, one permit per interval, the first at once.
func TestSmooth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, ratelimit.Config{Rate: 10})
		if !l.Allow() {
			t.Fatal("first call refused")
		}
		if l.Allow() {
			t.Fatal("second call at the same instant allowed")
		}
		time.Sleep(99 * time.Millisecond)
		if l.Allow() {
			t.Fatal("allowed 99ms after a permit at 10/s")
		}
		time.Sleep(time.Millisecond)
		if !l.Allow() {
			t.Fatal("refused 100ms after a permit at 10/s")
		}
		// A long quiet spell does not bank permits beyond Burst.
		time.Sleep(10 * time.Second)
		if !l.Allow() || l.Allow() {
			t.Fatal("after a quiet spell, want exactly one permit")
		}
	})
}

// TestBurst: Burst permits at once after a quiet spell, then Rate.
func TestBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, ratelimit.Config{Rate: 100, Burst: 5})
		if got := l.Available(); got != 5 {
			t.Fatalf("Available() = %d, want 5", got)
		}
		n := 0
		for l.Allow() {
			n++
		}
		if n != 5 || l.Available() != 0 {
			t.Fatalf("burst granted %d (available %d), want 5 (0)", n, l.Available())
		}
		time.Sleep(20 * time.Millisecond)
		if got := l.Available(); got != 2 {
			t.Fatalf("Available() after 20ms = %d, want 2", got)
		}
		time.Sleep(time.Hour)
		n = 0
		for l.Allow() {
			n++
		}
		if n != 5 {
			t.Fatalf("after an hour granted %d, want 5", n)
		}
	})
}

// TestRefusal: Execute refuses without running fn, with an error matching
// ErrLimited and policy.ErrRejected whose RetryAfter is the time to the
// next permit, and that permit does come then.
func TestRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, ratelimit.Config{Name: "api", Rate: 4})
		if err := l.Execute(t.Context(), ok); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		ran := false
		err := l.Execute(t.Context(), func(context.Context) error { ran = true; return nil })
		if ran || !errors.Is(err, ratelimit.ErrLimited) || !errors.Is(err, policy.ErrRejected) {
			t.Fatalf("ran %v, err %v", ran, err)
		}
		if errors.Is(err, context.Canceled) || telemetry.ErrorType(err) != "rate_limited" {
			t.Fatalf("err %v, error.type %q", err, telemetry.ErrorType(err))
		}
		after, has := policy.RetryAfter(err)
		if !has || after != 150*time.Millisecond {
			t.Fatalf("RetryAfter = %v, %v; want 150ms", after, has)
		}
		if e := err.(*ratelimit.Error); e.Policy != "api" || e.Error() != "palisade/ratelimit: api: rate limit exceeded, next permit in 150ms" {
			t.Fatalf("error %+v: %q", e, e.Error())
		}
		time.Sleep(after - time.Nanosecond)
		if l.Allow() {
			t.Fatal("allowed before RetryAfter passed")
		}
		time.Sleep(time.Nanosecond)
		if !l.Allow() {
			t.Fatal("refused once RetryAfter passed")
		}
	})
}

// TestErrorInFnUnchanged: fn's error comes back as the very value.
func TestErrorInFnUnchanged(t *testing.T) {
	l := newLimiter(t, ratelimit.Config{Rate: 1})
	errFn := errors.New("fn")
	if err := l.Execute(context.Background(), func(context.Context) error { return errFn }); err != errFn {
		t.Fatalf("got %v", err)
	}
}

// TestWaitFIFO: with MaxWait, waiters reserve consecutive slots in the
// order they arrive and each starts at its slot.
func TestWaitFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, ratelimit.Config{Rate: 10, MaxWait: time.Second})
		start := time.Now()
		var mu sync.Mutex
		var order []int
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Go(func() {
				if err := l.Execute(t.Context(), func(context.Context) error {
					mu.Lock()
					defer mu.Unlock()
					order = append(order, i)
					if got, want := time.Since(start), time.Duration(i)*100*time.Millisecond; got != want {
						t.Errorf("waiter %d started after %v, want %v", i, got, want)
					}
					return nil
				}); err != nil {
					t.Errorf("waiter %d: %v", i, err)
				}
			})
			synctest.Wait() // each reserves before the next arrives
		}
		wg.Wait()
		if !slices.Equal(order, []int{0, 1, 2, 3, 4}) {
			t.Fatalf("order %v", order)
		}
	})
}

// TestWaitBeyondMaxWait: a call whose slot is more than MaxWait away is
// refused at once, without reserving it.
func TestWaitBeyondMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, ratelimit.Config{Rate: 10, MaxWait: 150 * time.Millisecond})
		for range 2 { // a permit now, a slot 100ms away
			go l.Execute(t.Context(), ok)
			synctest.Wait()
		}
		start := time.Now()
		err := l.Execute(t.Context(), ok)
		if !errors.Is(err, ratelimit.ErrLimited) || time.Since(start) != 0 {
			t.Fatalf("err %v after %v", err, time.Since(start))
		}
		if after, _ := policy.RetryAfter(err); after != 200*time.Millisecond {
			t.Fatalf("RetryAfter %v, want 200ms", after)
		}
		// Nothing was reserved: at 100ms the waiter runs, and at 200ms
		// the next permit is free.
		time.Sleep(200 * time.Millisecond)
		if !l.Allow() {
			t.Fatal("the refused call's slot was taken")
		}
	})
}

// TestWaitDeadline: a call whose context's deadline comes before its slot
// is refused at once and reserves nothing; one whose deadline comes after
// waits.
func TestWaitDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, ratelimit.Config{Rate: 10, MaxWait: time.Minute})
		l.Allow()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond) // the deadline at the slot: too late
		defer cancel()
		if err := l.Wait(ctx); !errors.Is(err, ratelimit.ErrLimited) {
			t.Fatalf("deadline at the slot: %v", err)
		}
		ctx2, cancel2 := context.WithTimeout(t.Context(), 100*time.Millisecond+1)
		defer cancel2()
		start := time.Now()
		if err := l.Wait(ctx2); err != nil || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("deadline after the slot: %v after %v", err, time.Since(start))
		}
	})
}

// TestWaiterCancelled: a waiter whose context ends gets an error matching
// the context's error and policy.ErrRejected, not ErrLimited; being the last
// reservation, it gives its slot back; one with waiters behind cannot.
func TestWaiterCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		l := newLimiter(t, ratelimit.Config{Rate: 10, MaxWait: time.Second, Telemetry: h.Telemetry})
		l.Allow()
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(30*time.Millisecond, cancel)
		err := l.Wait(ctx)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, policy.ErrRejected) || errors.Is(err, ratelimit.ErrLimited) {
			t.Fatalf("cancelled waiter: %v", err)
		}
		if e := err.(*ratelimit.Error); e.Delay != 30*time.Millisecond || e.RetryAfter() != 0 || telemetry.ErrorType(err) != "rate_limit_wait_ended" {
			t.Fatalf("error %+v, error.type %q", e, telemetry.ErrorType(err))
		}
		if n := h.Total(t, "palisade.rejected_calls"); n != 0 {
			t.Fatalf("a cancelled waiter counted as %d rejections", n)
		}
		// Given back: the slot at 100ms is free again.
		time.Sleep(70 * time.Millisecond)
		if !l.Allow() {
			t.Fatal("the cancelled waiter's slot was lost")
		}

		// Now with a waiter behind: the cancelled one's slot (200ms) is
		// lost, the one behind keeps its own (300ms).
		ctx, cancel = context.WithCancel(t.Context())
		start := time.Now()
		go func() { _ = l.Wait(ctx) }()
		synctest.Wait()
		behind := make(chan time.Duration)
		go func() {
			_ = l.Wait(t.Context())
			behind <- time.Since(start)
		}()
		synctest.Wait()
		cancel()
		if d := <-behind; d != 200*time.Millisecond {
			t.Fatalf("waiter behind started after %v, want 200ms", d)
		}
		if l.Allow() {
			t.Fatal("a permit at 200ms though the slot at 100ms was lost and 200ms taken")
		}
	})
}

// TestCancelledBeforeWaiting: a call that would have to wait with an ended
// context is not queued.
func TestCancelledBeforeWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, ratelimit.Config{Rate: 10, MaxWait: time.Second})
		l.Allow()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := l.Wait(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, ratelimit.ErrLimited) {
			t.Fatalf("got %v", err)
		}
		time.Sleep(100 * time.Millisecond)
		if !l.Allow() {
			t.Fatal("the cancelled call reserved a slot")
		}
		// With a permit free, Execute does not look at the context.
		time.Sleep(time.Second)
		if err := l.Execute(ctx, func(ctx context.Context) error { return ctx.Err() }); err != context.Canceled {
			t.Fatalf("got %v", err)
		}
	})
}

// grant is a permit as a caller saw it: it was decided between before and
// after (both on the same clock).
type grant struct{ before, after time.Duration }

// checkIntervals checks that in every interval [t1, t2], the grants seen
// wholly inside it are at most burst + rate × (t2 − t1): the permits the
// limiter decided in that interval include them. It checks every interval
// starting at a grant's before and ending at a grant's after, which are
// the tightest ones.
func checkIntervals(t *testing.T, grants []grant, rate float64, burst int) {
	t.Helper()
	slices.SortFunc(grants, func(a, b grant) int { return int(a.before - b.before) })
	var afters []time.Duration // afters of grants[i:], sorted
	worst := math.Inf(-1)
	for i := len(grants) - 1; i >= 0; i-- {
		at, _ := slices.BinarySearch(afters, grants[i].after)
		afters = slices.Insert(afters, at, grants[i].after)
		t1 := grants[i].before
		for k, t2 := range afters {
			if t2 < t1 {
				continue
			}
			limit := float64(burst) + rate*(t2-t1).Seconds()
			if n := float64(k + 1); n > limit+1e-6 { // float rounding
				t.Fatalf("%v permits granted in [%v, %v], limit %v", n, t1, t2, limit)
			} else if n-limit > worst {
				worst = n - limit
			}
		}
	}
	t.Logf("%d grants; tightest interval: %.3f permits under the limit", len(grants), -worst)
}

// TestContentionSynctest: thousands of goroutines, each calling Allow and
// sleeping a random while, on synctest's clock, where a grant's time is
// exact: in no interval may more than Burst + Rate × d permits pass.
func TestContentionSynctest(t *testing.T) {
	for _, burst := range []int{1, 10} {
		synctest.Test(t, func(t *testing.T) {
			const rate = 1000.0
			l := newLimiter(t, ratelimit.Config{Rate: rate, Burst: burst})
			start := time.Now()
			var mu sync.Mutex
			var grants []grant
			var wg sync.WaitGroup
			for g := range 2000 {
				wg.Go(func() {
					for i := range 20 {
						if l.Allow() {
							at := time.Since(start)
							mu.Lock()
							grants = append(grants, grant{at, at})
							mu.Unlock()
						}
						time.Sleep(time.Duration((g*7+i*13)%97) * time.Millisecond)
					}
				})
			}
			wg.Wait()
			checkIntervals(t, grants, rate, burst)
			if len(grants) < 500 {
				t.Fatalf("only %d grants over %v", len(grants), time.Since(start))
			}
		})
	}
}

// TestContentionRealClock: thousands of goroutines calling Allow and
// Execute (with waiting) at once on the real clock, each grant recorded
// with the instants before and after the call: in no interval may the
// grants wholly inside exceed Burst + Rate × d. This is the test that
// golang.org/x/time/rate fails (golang/go#71360).
func TestContentionRealClock(t *testing.T) {
	const rate = 2000.0
	for _, cfg := range []ratelimit.Config{
		{Rate: rate, Burst: 1},
		{Rate: rate, Burst: 50},
		{Rate: rate, Burst: 5, MaxWait: 5 * time.Millisecond},
	} {
		l := newLimiter(t, cfg)
		epoch := time.Now()
		stop := epoch.Add(300 * time.Millisecond)
		var mu sync.Mutex
		var grants []grant
		var calls atomic.Int64
		var wg sync.WaitGroup
		for g := range 2000 {
			wg.Go(func() {
				for time.Now().Before(stop) {
					calls.Add(1)
					before := time.Since(epoch)
					var granted bool
					if g%2 == 0 {
						granted = l.Allow()
					} else {
						granted = l.Execute(context.Background(), ok) == nil
					}
					if granted {
						after := time.Since(epoch)
						mu.Lock()
						grants = append(grants, grant{before, after})
						mu.Unlock()
					} else {
						time.Sleep(time.Millisecond) // spare the shared cores
					}
				}
			})
		}
		wg.Wait()
		checkIntervals(t, grants, rate, l.Burst())
		if limit := float64(l.Burst()) + rate*time.Since(epoch).Seconds(); float64(len(grants)) > limit {
			t.Fatalf("%d grants in all, limit %v", len(grants), limit)
		}
		t.Logf("burst %d, MaxWait %v: %d calls, %d granted", cfg.Burst, cfg.MaxWait, calls.Load(), len(grants))
	}
}

// TestTelemetry: refusals are counted (Allow's too); cancelled waiters are
// not; available permits are observed.
func TestTelemetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		l := newLimiter(t, ratelimit.Config{Name: "api", Rate: 10, Burst: 3, Telemetry: h.Telemetry})
		if n := h.Total(t, "palisade.rejected_calls"); n != 0 {
			t.Fatalf("rejected_calls starts at %d", n)
		}
		if n := h.Total(t, "palisade.ratelimit.available"); n != 3 {
			t.Fatalf("available %d, want 3", n)
		}
		for range 3 {
			l.Allow()
		}
		l.Allow()
		span := h.InSpan(t, func(ctx context.Context) { _ = l.Execute(ctx, ok) })
		if n := h.Total(t, "palisade.rejected_calls"); n != 2 {
			t.Fatalf("rejected_calls %d, want 2", n)
		}
		if n := h.Total(t, "palisade.ratelimit.available"); n != 0 {
			t.Fatalf("available %d, want 0", n)
		}
		if ev := span.Events(); len(ev) != 1 || ev[0].Name != "palisade.rejected" {
			t.Fatalf("events %v", ev)
		}
		for _, kv := range span.Events()[0].Attributes {
			if kv.Key == "error.type" && kv.Value.AsString() != "rate_limited" ||
				kv.Key == "palisade.policy.type" && kv.Value.AsString() != "ratelimit" {
				t.Fatalf("event attribute %v", kv)
			}
		}
	})
}

// TestWaitIgnoresMaxWait: Wait blocks until its permit, however far (as
// x/time/rate's Wait), bounded only by its context's deadline.
func TestWaitIgnoresMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, ratelimit.Config{Rate: 1}) // MaxWait 0: Execute would refuse
		l.Allow()
		if err := l.Execute(t.Context(), ok); !errors.Is(err, ratelimit.ErrLimited) {
			t.Fatalf("Execute: %v", err)
		}
		start := time.Now()
		if err := l.Wait(t.Context()); err != nil || time.Since(start) != time.Second {
			t.Fatalf("Wait: %v after %v", err, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		start = time.Now()
		if err := l.Wait(ctx); !errors.Is(err, ratelimit.ErrLimited) || time.Since(start) != 0 {
			t.Fatalf("Wait past the deadline: %v after %v", err, time.Since(start))
		}
	})
}
