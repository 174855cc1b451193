package redis_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	palisaderedis "github.com/palisade-go/palisade/redis"
	"github.com/palisade-go/palisade/telemetry"
)

func newLimiter(t testing.TB, client goredis.UniversalClient, key string, cfg palisaderedis.LimiterConfig) *palisaderedis.Limiter {
	t.Helper()
	cfg.Client, cfg.Key = client, key
	if cfg.Telemetry == nil {
		cfg.Telemetry = telemetry.Disabled()
	}
	if cfg.StoreTimeout == 0 {
		// A machine loaded by the rest of the test run must not pass for
		// a Redis outage, in which the limiter fails open (the default)
		// and the rate these tests check is not kept, by design. The
		// tests of outages set the default.
		cfg.StoreTimeout = time.Second
	}
	l, err := palisaderedis.NewLimiter(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestLimiterConfigErrors(t *testing.T) {
	good := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer good.Close()
	for _, tc := range []struct {
		cfg  palisaderedis.LimiterConfig
		want string
	}{
		{palisaderedis.LimiterConfig{Key: "k", Rate: 1}, "LimiterConfig.Client is required"},
		{palisaderedis.LimiterConfig{Client: good, Rate: 1}, "LimiterConfig.Key is required"},
		{palisaderedis.LimiterConfig{Client: good, Key: "k"}, "LimiterConfig.Rate must be > 0"},
		{palisaderedis.LimiterConfig{Client: good, Key: "k", Rate: -1}, "LimiterConfig.Rate must be > 0"},
		{palisaderedis.LimiterConfig{Client: good, Key: "k", Rate: 2e6}, "LimiterConfig.Rate must be in [1e-6, 1e6]"},
		{palisaderedis.LimiterConfig{Client: good, Key: "k", Rate: 1, Burst: -1}, "LimiterConfig.Burst must be >= 0"},
		{palisaderedis.LimiterConfig{Client: good, Key: "k", Rate: 1, MaxWait: -1}, "LimiterConfig.MaxWait must be >= 0"},
		{palisaderedis.LimiterConfig{Client: good, Key: "k", Rate: 1, Batch: -1}, "LimiterConfig.Batch must be >= 0"},
		{palisaderedis.LimiterConfig{Client: good, Key: "k", Rate: 1, StoreTimeout: -1}, "LimiterConfig.StoreTimeout must be >= 0"},
		{palisaderedis.LimiterConfig{Client: good, Key: "k", Rate: 1, OnStoreError: 7}, "LimiterConfig.OnStoreError must be"},
		{palisaderedis.LimiterConfig{Client: good, Key: "k", Rate: 1, OnStoreError: palisaderedis.Local}, "LimiterConfig.Replicas must be >= 1 with OnStoreError Local"},
		{palisaderedis.LimiterConfig{Client: good, Key: "k", Rate: 1, StoreRetry: -1}, "LimiterConfig.StoreRetry must be >= 0"},
	} {
		_, err := palisaderedis.NewLimiter(tc.cfg)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
	}
}

// Two limiters of one key share it: Burst permits at once between them,
// then one per interval; the rejection matches ErrRateLimited and
// policy.ErrRejected, with error.type rate_limited and the time to the
// next permit as RetryAfter.
func TestLimiterSharedBurstAndRejection(t *testing.T) {
	key := uniqueKey(t)
	h := oteltest.New()
	cfg := palisaderedis.LimiterConfig{Rate: 5, Burst: 4, Batch: 1, Telemetry: h.Telemetry}
	a := newLimiter(t, localRedis(t), key, cfg)
	b := newLimiter(t, localRedis(t), key, cfg)
	granted := 0
	for range 3 {
		if a.Allow() {
			granted++
		}
		if b.Allow() {
			granted++
		}
	}
	assert.Equal(t, 4, granted, "the burst, shared")

	ran := false
	err := a.Execute(context.Background(), func(context.Context) error { ran = true; return nil })
	assert.False(t, ran)
	require.ErrorIs(t, err, palisaderedis.ErrRateLimited)
	require.ErrorIs(t, err, policy.ErrRejected)
	assert.Equal(t, "rate_limited", telemetry.ErrorType(err))
	d, hinted := policy.RetryAfter(err)
	require.True(t, hinted)
	assert.InDelta(t, 200*time.Millisecond, d, float64(30*time.Millisecond))
	assert.Equal(t, int64(1), h.Total(t, "palisade.rejected_calls"))

	time.Sleep(d)
	assert.True(t, b.Allow(), "the next permit, after RetryAfter")
	assert.False(t, a.Allow())
}

// Wait waits for the next permit; it returns at once with the rejection if
// the permit comes after the ctx's deadline, and with the ctx's error
// (and ErrRejected) if ctx ends while it waits.
func TestLimiterWait(t *testing.T) {
	key := uniqueKey(t)
	l := newLimiter(t, localRedis(t), key, palisaderedis.LimiterConfig{Rate: 10, Batch: 1})
	require.True(t, l.Allow())
	start := time.Now()
	require.NoError(t, l.Wait(context.Background()))
	assert.InDelta(t, 100*time.Millisecond, time.Since(start), float64(40*time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start = time.Now()
	err := l.Wait(ctx)
	require.ErrorIs(t, err, palisaderedis.ErrRateLimited)
	assert.Less(t, time.Since(start), 15*time.Millisecond, "returned at once")

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	err = l.Wait(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, policy.ErrRejected)
	assert.NotErrorIs(t, err, palisaderedis.ErrRateLimited)
}

// Execute waits up to MaxWait for a permit.
func TestLimiterExecuteMaxWait(t *testing.T) {
	key := uniqueKey(t)
	l := newLimiter(t, localRedis(t), key, palisaderedis.LimiterConfig{Rate: 20, Batch: 1, MaxWait: 100 * time.Millisecond})
	runs := 0
	fn := func(context.Context) error { runs++; return nil }
	require.NoError(t, l.Execute(context.Background(), fn))
	require.NoError(t, l.Execute(context.Background(), fn), "waited 50ms")
	assert.Equal(t, 2, runs)

	short := newLimiter(t, localRedis(t), uniqueKey(t), palisaderedis.LimiterConfig{Rate: 2, Batch: 1, MaxWait: 100 * time.Millisecond})
	require.NoError(t, short.Execute(context.Background(), fn))
	start := time.Now()
	require.ErrorIs(t, short.Execute(context.Background(), fn), palisaderedis.ErrRateLimited)
	assert.Less(t, time.Since(start), 50*time.Millisecond, "the next permit is 500ms away: no wait")
	errFn := errors.New("fn")
	time.Sleep(500 * time.Millisecond)
	assert.Equal(t, errFn, short.Execute(context.Background(), func(context.Context) error { return errFn }), "fn's error unchanged")
}

// Batches: one round trip per Batch permits, and the rate holds.
func TestLimiterBatches(t *testing.T) {
	client := localRedis(t)
	var n counter
	client.AddHook(&n)
	l := newLimiter(t, client, uniqueKey(t), palisaderedis.LimiterConfig{Rate: 1000, Burst: 10, Batch: 10})
	before := n.n.Load()
	granted := 0
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if l.Allow() {
			granted++
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
	cmds := n.n.Load() - before
	t.Logf("%d permits, %d commands", granted, cmds)
	// At most the rate (+ the burst); a caller that comes back late for its
	// next batch loses what it did not ask for in time, as with any GCRA.
	assert.LessOrEqual(t, granted, 10+500+10)
	assert.GreaterOrEqual(t, granted, 300)
	assert.LessOrEqual(t, cmds, int64(granted/10+60), "about one command per batch (and one per rejected wait)")
}

// While Redis is gone: FailOpen admits all, FailClosed none, Local its
// share of the rate; each tries Redis again after StoreRetry, and the
// failures are counted.
func TestLimiterStoreFailure(t *testing.T) {
	srv := startServer(t)
	client := newClient(t, srv.addr())
	h := oteltest.New()
	base := palisaderedis.LimiterConfig{Rate: 100, Batch: 1, StoreRetry: time.Hour, StoreTimeout: palisaderedis.DefaultStoreTimeout, Telemetry: h.Telemetry}
	open := base
	open.OnStoreError = palisaderedis.FailOpen
	closed := base
	closed.OnStoreError = palisaderedis.FailClosed
	local := base
	local.OnStoreError, local.Replicas, local.Burst = palisaderedis.Local, 4, 4
	lo := newLimiter(t, client, uniqueKey(t), open)
	lc := newLimiter(t, client, uniqueKey(t), closed)
	ll := newLimiter(t, client, uniqueKey(t), local)
	srv.stop()

	count := func(l *palisaderedis.Limiter, d time.Duration) (granted, tries int) {
		for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
			tries++
			if l.Allow() {
				granted++
			}
		}
		return granted, tries
	}
	granted, tries := count(lo, 200*time.Millisecond)
	assert.Equal(t, tries, granted, "FailOpen")
	assert.Greater(t, granted, 20, "FailOpen: above 100/s")
	granted, _ = count(lc, 200*time.Millisecond)
	assert.Zero(t, granted, "FailClosed")
	err := lc.Execute(context.Background(), ok)
	require.ErrorIs(t, err, palisaderedis.ErrRateLimited)
	d, _ := policy.RetryAfter(err)
	assert.Greater(t, d, 50*time.Minute, "RetryAfter: when Redis is tried again")
	got, _ := count(ll, 400*time.Millisecond)
	assert.InDelta(t, 1+400*25/1000, got, 3, "Local: 100/4 per second, burst 4/4")
	assert.Equal(t, int64(3), h.Total(t, "palisade.store.errors"), "one failure each, then no retry for StoreRetry")
}

// A Limiter whose Redis came back uses it again after StoreRetry.
func TestLimiterRejoins(t *testing.T) {
	srv := startServer(t)
	l := newLimiter(t, newClient(t, srv.addr()), uniqueKey(t), palisaderedis.LimiterConfig{Rate: 10, Batch: 1, OnStoreError: palisaderedis.FailClosed, StoreRetry: 100 * time.Millisecond, StoreTimeout: palisaderedis.DefaultStoreTimeout})
	srv.stop()
	assert.False(t, l.Allow())
	srv.start()
	eventually(t, time.Second, l.Allow, "a permit from Redis again")
	assert.False(t, l.Allow(), "and its limit")
}

// Concurrent callers of one limiter share its batches without granting
// more than the rate allows.
func TestLimiterConcurrent(t *testing.T) {
	l := newLimiter(t, localRedis(t), uniqueKey(t), palisaderedis.LimiterConfig{Rate: 2000, Burst: 20, Batch: 20})
	var granted atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(500 * time.Millisecond)
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if l.Allow() {
					granted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, granted.Load(), int64(20+1000+20))
	assert.GreaterOrEqual(t, granted.Load(), int64(300), "8 goroutines spinning on 2 cores starve the one asking Redis")
}

// Extreme but valid configurations work against the real script: the
// slowest rate with a huge burst (large numbers in Lua), the fastest.
func TestLimiterExtremes(t *testing.T) {
	slow := newLimiter(t, localRedis(t), uniqueKey(t), palisaderedis.LimiterConfig{Rate: 1e-6, Burst: 1 << 30, Batch: 1})
	assert.True(t, slow.Allow())
	one := newLimiter(t, localRedis(t), uniqueKey(t), palisaderedis.LimiterConfig{Rate: 1e-6, Batch: 1})
	assert.True(t, one.Allow())
	err := one.Execute(context.Background(), ok)
	require.ErrorIs(t, err, palisaderedis.ErrRateLimited)
	d, _ := policy.RetryAfter(err)
	assert.Greater(t, d, 11*24*time.Hour, "one permit per 11.6 days")
	fast := newLimiter(t, localRedis(t), uniqueKey(t), palisaderedis.LimiterConfig{Rate: 1e6})
	assert.True(t, fast.Allow())
}

// The caller's cancellation is no rejection: fn does not run, and the
// error matches the ctx's and policy.ErrRejected, not ErrRateLimited. A
// panic in fn goes on, unchanged.
func TestLimiterCancelAndPanic(t *testing.T) {
	l := newLimiter(t, localRedis(t), uniqueKey(t), palisaderedis.LimiterConfig{Rate: 1, Batch: 1, MaxWait: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := l.Execute(ctx, func(context.Context) error { ran = true; return nil })
	assert.False(t, ran)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, policy.ErrRejected)
	assert.NotErrorIs(t, err, palisaderedis.ErrRateLimited)
	assert.Equal(t, "rate_limit_wait_ended", telemetry.ErrorType(err))

	assert.PanicsWithValue(t, "boom", func() {
		_ = l.Execute(context.Background(), func(context.Context) error { panic("boom") })
	})

	// Waiting (the next permit is a second away) ends with the ctx.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	time.AfterFunc(20*time.Millisecond, cancel)
	err = l.Execute(ctx, func(context.Context) error { ran = true; return nil })
	assert.False(t, ran)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, policy.ErrRejected)
}
