package redis_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	palisaderedis "github.com/palisade-go/palisade/redis"
	"github.com/palisade-go/palisade/telemetry"
)

var errDown = errors.New("dependency down")

func fail(context.Context) error { return errDown }
func ok(context.Context) error   { return nil }

// newShared builds a shared breaker on client, closed at the end of the
// test; ConsecutiveFailures defaults to 3 and BreakDuration to 1 minute.
func newShared(t testing.TB, client goredis.UniversalClient, key string, cfg palisaderedis.BreakerConfig) *palisaderedis.Breaker {
	t.Helper()
	cfg.Client, cfg.Key = client, key
	if cfg.Breaker.ConsecutiveFailures == 0 {
		cfg.Breaker.ConsecutiveFailures = 3
	}
	if cfg.Breaker.BreakDuration == 0 {
		cfg.Breaker.BreakDuration = time.Minute
	}
	if cfg.Breaker.Telemetry == nil {
		cfg.Breaker.Telemetry = telemetry.Disabled()
	}
	b, err := palisaderedis.NewBreaker(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// trip makes b open by failing calls.
func trip(t testing.TB, b *palisaderedis.Breaker) {
	t.Helper()
	for b.State() == breaker.Closed {
		_ = b.Execute(context.Background(), fail)
	}
}

func TestBreakerConfigErrors(t *testing.T) {
	good := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer good.Close()
	bad := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer bad.Close()
	for _, tc := range []struct {
		cfg  palisaderedis.BreakerConfig
		want string
	}{
		{palisaderedis.BreakerConfig{Key: "k"}, "BreakerConfig.Client is required"},
		{palisaderedis.BreakerConfig{Client: bad, Key: "k"}, "BreakerConfig.Client must have ContextTimeoutEnabled"},
		{palisaderedis.BreakerConfig{Client: good}, "BreakerConfig.Key is required"},
		{palisaderedis.BreakerConfig{Client: good, Key: "k", Breaker: breaker.Config{TrialGate: func() bool { return true }}}, "BreakerConfig.Breaker.TrialGate must be nil"},
		{palisaderedis.BreakerConfig{Client: good, Key: "k", PollInterval: -1}, "BreakerConfig.PollInterval must be >= 0"},
		{palisaderedis.BreakerConfig{Client: good, Key: "k", StoreTimeout: -1}, "BreakerConfig.StoreTimeout must be >= 0"},
		{palisaderedis.BreakerConfig{Client: good, Key: "k", LeaseDuration: -1}, "BreakerConfig.LeaseDuration must be >= 0"},
		{palisaderedis.BreakerConfig{Client: good, Key: "k", LeaseDuration: time.Second, PollInterval: time.Second}, "BreakerConfig.LeaseDuration must exceed PollInterval"},
		{palisaderedis.BreakerConfig{Client: good, Key: "k", Quorum: -1}, "BreakerConfig.Quorum must be >= 0"},
		{palisaderedis.BreakerConfig{Client: good, Key: "k", QuorumWindow: -1}, "BreakerConfig.QuorumWindow must be >= 0"},
		{palisaderedis.BreakerConfig{Client: good, Key: "k", Breaker: breaker.Config{FailureRatio: 2}}, "Config.FailureRatio must be in (0, 1]"},
	} {
		_, err := palisaderedis.NewBreaker(tc.cfg)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
	}
}

// One replica's opening opens the others, with the same break (as
// RetryAfter shows), within 500 ms; the others' OnStateChange sees it as
// any opening.
func TestOpeningReachesOtherReplicas(t *testing.T) {
	key := uniqueKey(t)
	var opened [3]atomic.Int64 // when each saw closed->open
	var bs [3]*palisaderedis.Breaker
	for i := range bs {
		bs[i] = newShared(t, localRedis(t), key, palisaderedis.BreakerConfig{Breaker: breaker.Config{
			BreakDuration: 10 * time.Second,
			OnStateChange: func(from, to breaker.State) {
				if to == breaker.Open {
					opened[i].Store(time.Now().UnixNano())
				}
			},
		}})
	}
	time.Sleep(50 * time.Millisecond) // subscribed
	trip(t, bs[0])
	for i := 1; i < 3; i++ {
		eventually(t, 500*time.Millisecond, func() bool { return bs[i].State() == breaker.Open }, "replica opened")
		err := bs[i].Execute(context.Background(), ok)
		require.ErrorIs(t, err, breaker.ErrOpen)
		d, hinted := policy.RetryAfter(err)
		require.True(t, hinted)
		assert.InDelta(t, 10*time.Second, d, float64(600*time.Millisecond), "the opener's break")
		assert.Less(t, time.Duration(opened[i].Load()-opened[0].Load()), 500*time.Millisecond)
	}
}

// Announcements that come late or twice never reopen a breaker that
// closed, nor extend a break.
func TestLateAndDuplicateAnnouncementsIgnored(t *testing.T) {
	client := localRedis(t)
	key := uniqueKey(t)
	a := newShared(t, client, key, palisaderedis.BreakerConfig{})
	b := newShared(t, localRedis(t), key, palisaderedis.BreakerConfig{})
	time.Sleep(50 * time.Millisecond)
	trip(t, a)
	eventually(t, time.Second, func() bool { return b.State() == breaker.Open }, "b opened")
	until := b.Metrics().OpenUntil
	b.Reset()

	channel := "palisade:breaker:{" + key + "}:events"
	ctx := context.Background()
	require.NoError(t, client.Publish(ctx, channel, "o 1 60000").Err(), "a duplicate")
	require.NoError(t, client.Publish(ctx, channel, "o 0 600000").Err(), "an older one")
	time.Sleep(400 * time.Millisecond) // delivered, and a poll done
	assert.Equal(t, breaker.Closed, b.State(), "reopened by a late announcement")

	// The same at a's: open, its break not extended by a late longer one.
	aUntil := a.Metrics().OpenUntil
	require.NoError(t, client.Publish(ctx, channel, "o 1 6000000").Err())
	time.Sleep(100 * time.Millisecond)
	assert.True(t, a.Metrics().OpenUntil.Equal(aUntil))
	assert.False(t, until.IsZero())
}

// Half-open, the replicas run HalfOpenCalls trial calls at a time in all,
// one replica holding the fleet's lease; when its trials close it, the
// others close by trial calls of their own.
func TestTrialCallsLimitedAcrossReplicas(t *testing.T) {
	key := uniqueKey(t)
	var closed atomic.Bool // some replica closed
	var bs [3]*palisaderedis.Breaker
	for i := range bs {
		bs[i] = newShared(t, localRedis(t), key, palisaderedis.BreakerConfig{Breaker: breaker.Config{
			BreakDuration: 300 * time.Millisecond, SuccessThreshold: 2, HalfOpenCalls: 2,
			OnStateChange: func(_, to breaker.State) {
				if to == breaker.Closed {
					closed.Store(true)
				}
			},
		}})
	}
	time.Sleep(50 * time.Millisecond)
	trip(t, bs[0])
	for _, b := range bs {
		eventually(t, time.Second, func() bool { return b.State() != breaker.Closed }, "opened")
	}

	var inFlight, most atomic.Int64
	var ranBeforeClose [3]atomic.Int64 // calls per replica before any closed
	var wg sync.WaitGroup
	deadline := time.Now().Add(3 * time.Second)
	for i, b := range bs {
		trial := func(context.Context) error {
			if !closed.Load() {
				ranBeforeClose[i].Add(1)
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
			}
			time.Sleep(100 * time.Millisecond)
			return nil
		}
		for range 4 {
			wg.Go(func() {
				for time.Now().Before(deadline) && b.State() != breaker.Closed {
					if err := b.Execute(context.Background(), trial); err != nil {
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
	}
	wg.Wait()
	for i, b := range bs {
		assert.Equal(t, breaker.Closed, b.State(), "replica %d closed", i)
	}
	holders := 0
	for i := range bs {
		if ranBeforeClose[i].Load() > 0 {
			holders++
		}
	}
	assert.Equal(t, 1, holders, "replicas that ran trial calls before the fleet closed")
	assert.LessOrEqual(t, most.Load(), int64(2), "trial calls at once, fleet-wide, before it closed")
	assert.Positive(t, most.Load())
}

// While the lease's holder runs its trial calls, the other replicas run
// none: the dependency sees HalfOpenCalls trials, not one per replica.
// (A failing dependency: each trial reopens the fleet.)
func TestFailingTrialsAcrossReplicas(t *testing.T) {
	key := uniqueKey(t)
	var bs [3]*palisaderedis.Breaker
	for i := range bs {
		bs[i] = newShared(t, localRedis(t), key, palisaderedis.BreakerConfig{Breaker: breaker.Config{
			BreakDuration: 200 * time.Millisecond, SuccessThreshold: 1, HalfOpenCalls: 1,
		}})
	}
	time.Sleep(50 * time.Millisecond)
	trip(t, bs[0])
	time.Sleep(50 * time.Millisecond)

	var trials atomic.Int64
	trial := func(context.Context) error {
		trials.Add(1)
		time.Sleep(20 * time.Millisecond)
		return errDown
	}
	var wg sync.WaitGroup
	deadline := time.Now().Add(1500 * time.Millisecond)
	for _, b := range bs {
		for range 3 {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					if err := b.Execute(context.Background(), trial); errors.Is(err, breaker.ErrOpen) {
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
	}
	wg.Wait()
	episodes, err := localRedis(t).HGet(context.Background(), "palisade:breaker:{"+key+"}:state", "ep").Int64()
	require.NoError(t, err)
	t.Logf("%d trial calls, %d fleet openings", trials.Load(), episodes)
	// Each opening after the first follows one failed trial: one trial per
	// opening at most (HalfOpenCalls 1), where unshared each replica would
	// run its own.
	assert.LessOrEqual(t, trials.Load(), episodes)
	assert.GreaterOrEqual(t, episodes, int64(4), "about one opening per 220ms")
}

// No Redis command runs on a call's path: not in closed state, not while
// open.
func TestNoCommandOnCallPath(t *testing.T) {
	client := localRedis(t)
	var n counter
	client.AddHook(&n)
	key := uniqueKey(t)
	b := newShared(t, client, key, palisaderedis.BreakerConfig{PollInterval: time.Hour, LeaseDuration: 2 * time.Hour})
	time.Sleep(50 * time.Millisecond)
	before := n.n.Load()
	for range 100_000 {
		require.NoError(t, b.Execute(context.Background(), ok))
	}
	assert.Equal(t, before, n.n.Load(), "commands in closed state")

	trip(t, b)
	time.Sleep(50 * time.Millisecond) // the opening announced
	before = n.n.Load()
	for range 100_000 {
		require.ErrorIs(t, b.Execute(context.Background(), ok), breaker.ErrOpen)
	}
	assert.Equal(t, before, n.n.Load(), "commands while open")
}

// With a quorum of 2, one replica's opening stays its own; a second
// replica's opens the fleet.
func TestQuorum(t *testing.T) {
	key := uniqueKey(t)
	var bs [3]*palisaderedis.Breaker
	for i := range bs {
		bs[i] = newShared(t, localRedis(t), key, palisaderedis.BreakerConfig{Quorum: 2})
	}
	time.Sleep(50 * time.Millisecond)
	trip(t, bs[0])
	time.Sleep(400 * time.Millisecond)
	assert.Equal(t, breaker.Closed, bs[1].State(), "one vote of 2")
	assert.Equal(t, breaker.Closed, bs[2].State(), "one vote of 2")
	trip(t, bs[1])
	eventually(t, 500*time.Millisecond, func() bool { return bs[2].State() == breaker.Open }, "quorum reached")
}

// Redis killed mid-run: the replicas go on serving with their local
// breakers — no call waits on Redis —, count the store's errors, and when
// Redis is back they rejoin: an opening made while it was gone reaches the
// others.
func TestRedisKilledThenBack(t *testing.T) {
	srv := startServer(t)
	h := oteltest.New()
	key := uniqueKey(t)
	a := newShared(t, newClient(t, srv.addr()), key, palisaderedis.BreakerConfig{PollInterval: 50 * time.Millisecond, Breaker: breaker.Config{Telemetry: h.Telemetry}})
	b := newShared(t, newClient(t, srv.addr()), key, palisaderedis.BreakerConfig{PollInterval: 50 * time.Millisecond})
	time.Sleep(100 * time.Millisecond)

	srv.stop()
	assert.Less(t, p99(t, b, 500*time.Millisecond), time.Millisecond, "calls wait on Redis")
	trip(t, a) // opens alone
	assert.Equal(t, breaker.Open, a.State())
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, breaker.Closed, b.State(), "no way to hear of it")
	assert.Positive(t, h.Total(t, "palisade.store.errors"), "store errors counted")

	srv.start()
	eventually(t, 3*time.Second, func() bool { return b.State() == breaker.Open }, "b opened after Redis came back")
}

// Redis slowed past StoreTimeout: calls stay fast; the breaker runs alone.
func TestRedisSlow(t *testing.T) {
	srv := startServer(t)
	proxy := startProxy(t, srv.addr())
	h := oteltest.New()
	key := uniqueKey(t)
	a := newShared(t, newClient(t, proxy.addr()), key, palisaderedis.BreakerConfig{PollInterval: 50 * time.Millisecond, Breaker: breaker.Config{Telemetry: h.Telemetry}})
	b := newShared(t, newClient(t, srv.addr()), key, palisaderedis.BreakerConfig{PollInterval: 50 * time.Millisecond})
	time.Sleep(100 * time.Millisecond)

	proxy.delay.Store(int64(300 * time.Millisecond))
	time.Sleep(200 * time.Millisecond)
	assert.Less(t, p99(t, a, 300*time.Millisecond), time.Millisecond, "calls wait on Redis")
	trip(t, b) // a hears of it only when Redis is fast again
	time.Sleep(300 * time.Millisecond)
	errs := h.Total(t, "palisade.store.errors")
	assert.Positive(t, errs, "timeouts counted")
	for _, dp := range h.Sum(t, "palisade.store.errors") {
		typ, _ := dp.Attributes.Value("error.type")
		if typ.AsString() == "store_timeout" {
			assert.Positive(t, dp.Value, "counted as timeouts")
		}
	}
	proxy.delay.Store(0)
	eventually(t, 3*time.Second, func() bool { return a.State() == breaker.Open }, "a opened once Redis answered in time")
}

// p99 runs successful calls through b for d and returns the 99th
// percentile of their durations: a call that waited on a dead or slow
// Redis would take StoreTimeout (100ms); one descheduled on a busy
// machine may take a few ms, hence no maximum.
func p99(t *testing.T, b *palisaderedis.Breaker, d time.Duration) time.Duration {
	t.Helper()
	var took []time.Duration
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		start := time.Now()
		require.NoError(t, b.Execute(context.Background(), ok))
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return took[len(took)*99/100]
}

// An opening whose announcement a replica missed reaches it by its poll,
// within PollInterval; a replica started while the fleet is open opens at
// once.
func TestPollCatchesMissedAnnouncements(t *testing.T) {
	client := localRedis(t)
	key := uniqueKey(t)
	b := newShared(t, localRedis(t), key, palisaderedis.BreakerConfig{PollInterval: 100 * time.Millisecond})
	time.Sleep(50 * time.Millisecond)

	// The state written as a replica would, but not announced.
	ctx := context.Background()
	now, err := client.Time(ctx).Result()
	require.NoError(t, err)
	state := "palisade:breaker:{" + key + "}:state"
	require.NoError(t, client.HSet(ctx, state, "ep", 1, "until", now.Add(time.Minute).UnixMilli()).Err())
	start := time.Now()
	eventually(t, time.Second, func() bool { return b.State() == breaker.Open }, "opened by the poll")
	assert.Less(t, time.Since(start), 300*time.Millisecond)
	d, _ := policy.RetryAfter(b.Execute(ctx, ok))
	assert.InDelta(t, time.Minute, d, float64(time.Second))

	late := newShared(t, localRedis(t), key, palisaderedis.BreakerConfig{})
	eventually(t, 500*time.Millisecond, func() bool { return late.State() == breaker.Open }, "a new replica joins the open fleet")
}

// The holder renews the lease while its trial calls run, however long
// they take: no other replica starts trials meanwhile.
func TestLeaseRenewedWhileTrialsRun(t *testing.T) {
	key := uniqueKey(t)
	var closed atomic.Bool
	var bs [2]*palisaderedis.Breaker
	for i := range bs {
		bs[i] = newShared(t, localRedis(t), key, palisaderedis.BreakerConfig{
			PollInterval: 50 * time.Millisecond, LeaseDuration: 120 * time.Millisecond,
			Breaker: breaker.Config{
				BreakDuration: 100 * time.Millisecond, SuccessThreshold: 1, HalfOpenCalls: 1,
				OnStateChange: func(_, to breaker.State) {
					if to == breaker.Closed {
						closed.Store(true)
					}
				},
			},
		})
	}
	time.Sleep(50 * time.Millisecond)
	trip(t, bs[0])
	eventually(t, time.Second, func() bool { return bs[1].State() == breaker.Open }, "opened")

	var inFlight, most atomic.Int64
	trial := func(context.Context) error {
		if !closed.Load() {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
		}
		time.Sleep(600 * time.Millisecond) // 5 leases long
		return nil
	}
	var wg sync.WaitGroup
	deadline := time.Now().Add(3 * time.Second)
	for _, b := range bs {
		wg.Go(func() {
			for time.Now().Before(deadline) && b.State() != breaker.Closed {
				if err := b.Execute(context.Background(), trial); err != nil {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(1), most.Load(), "trial calls at once, fleet-wide")
	for i, b := range bs {
		assert.Equal(t, breaker.Closed, b.State(), "replica %d", i)
	}
}

// A trial call that fails reopens the local breaker, and closes the trial
// gate at once: the lease it ran under was for the episode that just
// ended, and a worker slow to announce the new one (a starved process)
// must not leave the gate open for a second trial call in the same fleet
// episode (TestFleetTrialCalls saw 10 trial calls over 5 openings under
// load).
func TestFailedTrialClosesTheGateAtOnce(t *testing.T) {
	b := newShared(t, localRedis(t), uniqueKey(t), palisaderedis.BreakerConfig{
		Breaker: breaker.Config{
			SuccessThreshold: 1, HalfOpenCalls: 1,
			// A short first break, then a long one: the breaker the failed
			// trial reopens stays open however slowly this test runs.
			BreakDurationFunc: func(opens int) time.Duration {
				if opens == 1 {
					return 50 * time.Millisecond
				}
				return time.Minute
			},
		},
	})
	trip(t, b)
	ran := false
	deadline := time.Now().Add(5 * time.Second)
	for !ran && time.Now().Before(deadline) {
		err := b.Execute(context.Background(), func(context.Context) error { ran = true; return errDown })
		if !ran {
			require.ErrorIs(t, err, breaker.ErrOpen)
			time.Sleep(time.Millisecond)
		}
	}
	require.True(t, ran, "no trial call was admitted")
	require.Equal(t, breaker.Open, b.State(), "the failed trial reopened the breaker")
	assert.False(t, palisaderedis.TrialGateOpen(b), "the gate stays open on the old episode's lease")
}
