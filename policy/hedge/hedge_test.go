package hedge_test

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

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/hedge"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// script is a function whose attempt n (1, 2, …) waits take[n-1] (or
// until its context ends) and then returns errs[n-1]; it records each
// attempt's context.
type script struct {
	take []time.Duration
	errs []error

	mu   sync.Mutex
	ctxs []context.Context
}

func (s *script) fn(ctx context.Context) error {
	n := hedge.Attempt(ctx)
	s.mu.Lock()
	s.ctxs = append(s.ctxs, ctx)
	s.mu.Unlock()
	t := time.NewTimer(s.take[n-1])
	defer t.Stop()
	select {
	case <-t.C:
		if n-1 < len(s.errs) {
			return s.errs[n-1]
		}
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s *script) attempts() []context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]context.Context(nil), s.ctxs...)
}

func fixed(d time.Duration, tel *telemetry.Telemetry) *hedge.Hedge {
	return hedge.Must(hedge.Config{Delay: d, MaxExtraRatio: 10, Telemetry: tel})
}

func TestFirstSuccessWinsAndLosersAreCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		s := &script{take: []time.Duration{time.Second, 5 * time.Millisecond}}
		start := time.Now()
		span := h.InSpan(t, func(ctx context.Context) {
			require.NoError(t, fixed(10*time.Millisecond, h.Telemetry).Execute(ctx, s.fn))
		})
		assert.Equal(t, 15*time.Millisecond, time.Since(start), "the hedge, started at 10ms, won at 15ms")
		ctxs := s.attempts()
		require.Len(t, ctxs, 2)
		assert.ErrorIs(t, context.Cause(ctxs[0]), hedge.ErrLost, "the first attempt lost")
		assert.Equal(t, 2, hedge.Attempt(ctxs[1]))
		assert.Equal(t, 1, hedge.Attempt(ctxs[0]))
		synctest.Wait() // the loser's goroutine ends as its context did

		points := h.Sum(t, "palisade.hedge.hedges")
		got := map[string]int64{}
		for _, dp := range points {
			o, _ := dp.Attributes.Value("palisade.hedge.outcome")
			got[o.AsString()] = dp.Value
		}
		assert.Equal(t, map[string]int64{"won": 1, "lost": 0}, got)
		require.Len(t, span.Events(), 1)
		ev := span.Events()[0]
		assert.Equal(t, "palisade.hedge", ev.Name)
		attrs := map[string]any{}
		for _, kv := range ev.Attributes {
			attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
		assert.Equal(t, map[string]any{"palisade.policy.name": "hedge", "palisade.hedge.attempt": int64(2), "palisade.hedge.delay": 0.01}, attrs)
	})
}

func TestFastCallStartsNoHedge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		s := &script{take: []time.Duration{5 * time.Millisecond}}
		require.NoError(t, fixed(10*time.Millisecond, h.Telemetry).Execute(context.Background(), s.fn))
		assert.Len(t, s.attempts(), 1)
		assert.Equal(t, int64(0), h.Total(t, "palisade.hedge.hedges"), "series exist from construction, at 0")
		assert.Len(t, h.Sum(t, "palisade.hedge.hedges"), 2)
	})
}

func TestFailureWaitsForTheOtherAttempts(t *testing.T) {
	boom := errors.New("boom")
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		// Attempt 1 fails at 15ms, after the hedge started at 10ms; the
		// hedge succeeds at 30ms.
		s := &script{take: []time.Duration{15 * time.Millisecond, 20 * time.Millisecond}, errs: []error{boom}}
		start := time.Now()
		require.NoError(t, fixed(10*time.Millisecond, h.Telemetry).Execute(context.Background(), s.fn))
		assert.Equal(t, 30*time.Millisecond, time.Since(start))
	})
	synctest.Test(t, func(t *testing.T) {
		// Both fail: the last error to come in is returned, as it is.
		boom2 := errors.New("boom2")
		s := &script{take: []time.Duration{15 * time.Millisecond, 20 * time.Millisecond}, errs: []error{boom, boom2}}
		start := time.Now()
		err := fixed(10*time.Millisecond, telemetry.Disabled()).Execute(context.Background(), s.fn)
		assert.Same(t, boom2, err)
		assert.Equal(t, 30*time.Millisecond, time.Since(start))
	})
	synctest.Test(t, func(t *testing.T) {
		// A failure before the delay ends the call: a hedge is for slow
		// calls, a retry for failed ones.
		s := &script{take: []time.Duration{5 * time.Millisecond}, errs: []error{boom}}
		start := time.Now()
		assert.Same(t, boom, fixed(10*time.Millisecond, telemetry.Disabled()).Execute(context.Background(), s.fn))
		assert.Equal(t, 5*time.Millisecond, time.Since(start))
		time.Sleep(time.Second)
		assert.Len(t, s.attempts(), 1)
	})
}

func TestMaxHedges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		hd := hedge.Must(hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 3, MaxExtraRatio: 10, Telemetry: h.Telemetry})
		var mu sync.Mutex
		var starts []time.Duration
		start := time.Now()
		err := hd.Execute(context.Background(), func(ctx context.Context) error {
			mu.Lock()
			starts = append(starts, time.Since(start))
			n := len(starts)
			mu.Unlock()
			if n == 4 {
				time.Sleep(time.Millisecond)
				return nil
			}
			<-ctx.Done()
			return ctx.Err()
		})
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond}, starts)
		synctest.Wait()
		got := map[string]int64{}
		for _, dp := range h.Sum(t, "palisade.hedge.hedges") {
			o, _ := dp.Attributes.Value("palisade.hedge.outcome")
			got[o.AsString()] = dp.Value
		}
		assert.Equal(t, map[string]int64{"won": 1, "lost": 2}, got)
	})
}

func TestCallerCancellationEndsEveryAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{take: []time.Duration{time.Hour, time.Hour}}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(15*time.Millisecond, cancel)
		start := time.Now()
		err := fixed(10*time.Millisecond, telemetry.Disabled()).Execute(ctx, s.fn)
		assert.Same(t, context.Canceled, err)
		assert.Equal(t, 15*time.Millisecond, time.Since(start))
		for _, c := range s.attempts() {
			assert.Same(t, context.Canceled, context.Cause(c))
		}
		synctest.Wait()
	})
}

// An exhausted budget refuses new hedges but never stops attempts already
// running (failsafe-go#141).
func TestBudgetBoundsHedgesNotAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := budget.Must(budget.Config{Ratio: 0.1, Window: time.Minute})
		hd := hedge.Must(hedge.Config{Delay: 10 * time.Millisecond, Budget: b, Telemetry: telemetry.Disabled()})
		var attempts atomic.Int64
		slow := func(ctx context.Context) error {
			attempts.Add(1)
			time.Sleep(50 * time.Millisecond) // ignores its context: must not matter
			return nil
		}
		for range 100 {
			require.NoError(t, hd.Execute(context.Background(), slow))
		}
		synctest.Wait()
		assert.Equal(t, int64(110), attempts.Load(), "10 hedges for 100 calls")
		assert.Equal(t, budget.Stats{Calls: 100, Extra: 10}, b.Stats())

		// A call whose hedge was refused still waits for its attempt.
		start := time.Now()
		require.NoError(t, hd.Execute(context.Background(), slow))
		assert.Equal(t, 50*time.Millisecond, time.Since(start))
	})
}

// An inner timeout ends the attempt it times, never the hedges
// (Polly#1340): each attempt runs the inner policies with its own context.
func TestInnerTimeoutEndsOnlyItsAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := policy.NewPipeline("p",
			fixed(10*time.Millisecond, telemetry.Disabled()),
			timeout.Must(timeout.Config{Duration: 15 * time.Millisecond, Telemetry: telemetry.Disabled()}),
		).WithTelemetry(telemetry.Disabled())
		// Attempt 1 times out at 15ms; the hedge, started at 10ms,
		// succeeds at 22ms, within its own 15ms.
		s := &script{take: []time.Duration{time.Hour, 12 * time.Millisecond}}
		start := time.Now()
		v, err := policy.Get(context.Background(), p, func(ctx context.Context) (int, error) {
			return hedge.Attempt(ctx), s.fn(ctx)
		})
		require.NoError(t, err)
		assert.Equal(t, 2, v, "Get returns the winner's value")
		assert.Equal(t, 22*time.Millisecond, time.Since(start))
	})
}

func TestDisabledContextRunsOneAttemptInline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := hedge.Disable(context.Background())
		assert.False(t, hedge.Allowed(ctx))
		assert.False(t, hedge.Allowed(context.WithValue(ctx, struct{}{}, 1)), "derived contexts stay disabled")
		assert.True(t, hedge.Allowed(context.Background()))
		var n atomic.Int64
		type key struct{}
		err := fixed(time.Millisecond, telemetry.Disabled()).Execute(context.WithValue(ctx, key{}, "mine"), func(c context.Context) error {
			n.Add(1)
			assert.Equal(t, "mine", c.Value(key{}), "the caller's own context")
			time.Sleep(time.Second)
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, int64(1), n.Load())
	})
}

func TestPanicInAttemptIsReraisedInTheCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{take: []time.Duration{time.Hour}}
		var panicked any
		func() {
			defer func() { panicked = recover() }()
			_ = fixed(10*time.Millisecond, telemetry.Disabled()).Execute(context.Background(), func(ctx context.Context) error {
				if hedge.Attempt(ctx) == 2 {
					time.Sleep(time.Millisecond)
					panic("hedge panicked")
				}
				return s.fn(ctx)
			})
		}()
		assert.Equal(t, "hedge panicked", panicked)
		require.Len(t, s.attempts(), 1)
		assert.ErrorIs(t, context.Cause(s.attempts()[0]), hedge.ErrLost)
		synctest.Wait()
	})
}

func TestNestedHedgesNumberTheirOwnAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := fixed(time.Hour, telemetry.Disabled())
		outer := fixed(10*time.Millisecond, telemetry.Disabled())
		var mu sync.Mutex
		var seen []int
		err := outer.Execute(context.Background(), func(ctx context.Context) error {
			return inner.Execute(ctx, func(ctx context.Context) error {
				mu.Lock()
				seen = append(seen, hedge.Attempt(ctx))
				mu.Unlock()
				time.Sleep(15 * time.Millisecond)
				return nil
			})
		})
		require.NoError(t, err)
		time.Sleep(time.Second) // the loser ignores its context
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []int{1, 1}, seen, "each outer attempt is the inner hedge's first")
	})
}
