package redis

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/telemetry"
)

// Defaults of the LimiterConfig fields left zero.
const (
	// DefaultLimiterName names a Limiter in telemetry and errors.
	DefaultLimiterName = "ratelimit"
	// DefaultBurst is the permits a Limiter grants at once from idle: 1
	// spaces permits evenly.
	DefaultBurst = 1
	// DefaultBatchSpan sizes the default batch: a replica leases at once
	// the permits of this much time at the fleet's rate.
	DefaultBatchSpan = 10 * time.Millisecond
	// BatchLifetime is how long a replica may keep a batch of permits
	// before they lapse. Whatever it is, a replica holds one batch at a
	// time, so that over any period the fleet grants at most the limit
	// plus one batch per replica; it only keeps permits from being spent
	// long after the fleet's rate granted them.
	BatchLifetime = time.Second
	// DefaultStoreRetry is how long a Limiter whose Redis failed serves by
	// its OnStoreError choice before asking Redis again.
	DefaultStoreRetry = time.Second
)

// StoreFailure says what a [Limiter] does while Redis cannot be reached.
type StoreFailure int

const (
	// FailOpen admits every call: the limit is lifted while Redis is gone.
	// The default (as Envoy's global rate limiting): a rate limiter that
	// protects a dependency from overload is rarely worth an outage of
	// its own.
	FailOpen StoreFailure = iota
	// FailClosed rejects every call: for limits that must never be
	// exceeded (a paid API's quota).
	FailClosed
	// Local limits each replica on its own to Rate ÷ Replicas (and Burst ÷
	// Replicas, at least 1): the fleet keeps about its rate if Replicas is
	// right.
	Local
)

// LimiterConfig configures a [Limiter].
type LimiterConfig struct {
	// Name names the limiter in telemetry and errors; default "ratelimit".
	Name string
	// Client reaches Redis; required, with ContextTimeoutEnabled set (see
	// BreakerConfig.Client). Close does not close it.
	Client goredis.UniversalClient
	// Key names the limit in Redis: every Limiter with the same KeyPrefix
	// and Key shares it. Required.
	Key string
	// KeyPrefix starts the name of the key, KeyPrefix:ratelimit:{Key}:tat;
	// default "palisade".
	KeyPrefix string

	// Rate is the permits per second granted to the whole fleet; required,
	// > 0.
	Rate float64
	// Burst is how many permits may be granted at once after an idle
	// period; default 1 (permits spaced evenly, 1/Rate apart).
	Burst int
	// MaxWait is how long Execute waits for a permit; default 0: a call
	// without one is rejected at once.
	MaxWait time.Duration
	// Batch is how many permits a replica takes from Redis at a time and
	// grants locally, without a round trip, until they are spent or
	// BatchLifetime (1s) has passed; unused ones lapse then.
	// Default: the permits of DefaultBatchSpan (10ms) at Rate, at least 1.
	// A larger batch saves round trips at high rates, at a price: the
	// burst is at least Batch (a batch is granted at once), a replica
	// whose batch is spent waits for a whole batch to fit before asking
	// again (RetryAfter says so), and the fleet may exceed the limit, over
	// any period, by up to one batch per replica. Batch 1 is exact, at one
	// round trip per permit.
	Batch int

	// StoreTimeout bounds every call to Redis; default 100ms.
	StoreTimeout time.Duration
	// OnStoreError says what the limiter does while Redis fails or answers
	// too late: FailOpen (default), FailClosed or Local. It then asks Redis
	// again after StoreRetry.
	OnStoreError StoreFailure
	// Replicas is how many replicas share the limit, for OnStoreError
	// Local; required then, >= 1.
	Replicas int
	// StoreRetry is how long the limiter serves by OnStoreError after
	// Redis failed before trying it again; default 1s.
	StoreRetry time.Duration

	// Telemetry is where the limiter reports; nil means telemetry.Default().
	Telemetry *telemetry.Telemetry
}

// Limiter is a rate limiter shared by the replicas of a service through
// Redis: GCRA (the generic cell rate algorithm) in one Lua script, on
// Redis's clock, so that the replicas' clocks do not matter. Permits are
// taken in batches (see LimiterConfig.Batch) and granted locally. It is
// safe for concurrent use; Close it when done.
type Limiter struct {
	name     string
	store    store
	keys     []string
	interval float64 // µs between permits
	burst    int
	batch    int
	maxWait  time.Duration
	onError  StoreFailure
	retry    time.Duration
	epoch    time.Time // the limiter's clock is time.Since(epoch), ns

	lease atomic.Pointer[lease] // permits taken from Redis, to grant here
	// next is when the next permit may be had, limiter clock; set when a
	// call is rejected, read by the rejection's RetryAfter and by calls
	// that may then be rejected without asking Redis.
	next atomic.Int64

	mu        sync.Mutex // one round trip to Redis at a time
	downUntil int64      // limiter clock: serve by onError until then
	local     gcra       // for onError Local

	err      *RateLimitError // the rejection, built once
	rejected *report.Counter
}

// lease is a batch of permits granted by Redis, valid until expires.
type lease struct {
	left    atomic.Int64
	expires int64 // limiter clock
}

// NewLimiter returns a Limiter configured by cfg, or an error naming the
// first invalid field.
func NewLimiter(cfg LimiterConfig) (*Limiter, error) {
	if err := checkClient("LimiterConfig", cfg.Client); err != nil {
		return nil, err
	}
	switch {
	case cfg.Key == "":
		return nil, errorf("LimiterConfig.Key is required")
	case !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0):
		return nil, errorf("LimiterConfig.Rate must be > 0 and finite, got %v", cfg.Rate)
	case cfg.Rate > 1e6 || cfg.Rate < 1e-6:
		return nil, errorf("LimiterConfig.Rate must be in [1e-6, 1e6] (the script counts in µs), got %v", cfg.Rate)
	case cfg.Burst < 0:
		return nil, errorf("LimiterConfig.Burst must be >= 0 (0 means %d), got %d", DefaultBurst, cfg.Burst)
	case cfg.MaxWait < 0:
		return nil, errorf("LimiterConfig.MaxWait must be >= 0 (0 means no wait), got %v", cfg.MaxWait)
	case cfg.Batch < 0:
		return nil, errorf("LimiterConfig.Batch must be >= 0 (0 means the permits of %v at Rate), got %d", DefaultBatchSpan, cfg.Batch)
	case cfg.StoreTimeout < 0:
		return nil, errorf("LimiterConfig.StoreTimeout must be >= 0 (0 means %v), got %v", DefaultStoreTimeout, cfg.StoreTimeout)
	case cfg.OnStoreError < FailOpen || cfg.OnStoreError > Local:
		return nil, errorf("LimiterConfig.OnStoreError must be FailOpen, FailClosed or Local, got %d", cfg.OnStoreError)
	case cfg.OnStoreError == Local && cfg.Replicas < 1:
		return nil, errorf("LimiterConfig.Replicas must be >= 1 with OnStoreError Local (the rate is divided by it), got %d", cfg.Replicas)
	case cfg.Replicas < 0:
		return nil, errorf("LimiterConfig.Replicas must be >= 0, got %d", cfg.Replicas)
	case cfg.StoreRetry < 0:
		return nil, errorf("LimiterConfig.StoreRetry must be >= 0 (0 means %v), got %v", DefaultStoreRetry, cfg.StoreRetry)
	}
	l := &Limiter{
		name:     cfg.Name,
		interval: 1e6 / cfg.Rate,
		burst:    cfg.Burst,
		batch:    cfg.Batch,
		maxWait:  cfg.MaxWait,
		onError:  cfg.OnStoreError,
		retry:    or(cfg.StoreRetry, DefaultStoreRetry),
		epoch:    time.Now(),
	}
	if l.name == "" {
		l.name = DefaultLimiterName
	}
	if l.burst == 0 {
		l.burst = DefaultBurst
	}
	if l.batch == 0 {
		l.batch = max(int(math.Ceil(cfg.Rate*DefaultBatchSpan.Seconds())), 1)
	}
	prefix := cfg.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	l.keys = []string{key(prefix, "ratelimit", cfg.Key, "tat")}
	if cfg.OnStoreError == Local {
		interval := min(1e9/(cfg.Rate/float64(cfg.Replicas)), float64(maxLocalInterval))
		burst := int64(max(l.burst/cfg.Replicas, 1))
		l.local = gcra{interval: int64(interval), tolerance: satMul(burst-1, int64(interval))}
	}
	l.err = &RateLimitError{Policy: l.name, l: l}
	l.store = store{
		client:  cfg.Client,
		timeout: or(cfg.StoreTimeout, DefaultStoreTimeout),
		report:  report.NewStore(cfg.Telemetry, semconv.PolicyTypeRateLimit, l.name),
	}
	if !cfg.Telemetry.IsDisabled() { // nil is Default
		l.rejected = report.NewRejections(cfg.Telemetry.Meter(), semconv.PolicyTypeRateLimit, l.name, errorTypeRateLimited)
	}
	return l, nil
}

// Name returns the limiter's name.
func (l *Limiter) Name() string { return l.name }

// Close releases nothing today (the limiter has no goroutine) and is there
// so that a Limiter is used like a Breaker; it does not close the Redis
// client.
func (l *Limiter) Close() error { return nil }

func (l *Limiter) now() int64 { return max(int64(time.Since(l.epoch)), 0) }

// takeScript grants up to ARGV[3] permits (a batch) by GCRA: ARGV[1] is
// the interval between permits and ARGV[2] the burst, in µs of Redis
// TIME; a batch larger than the burst makes the burst that large, or no
// batch could ever be granted whole. KEYS[1] holds the theoretical arrival
// time (TAT) of the next permit. Returns {permits granted, µs until the
// next whole batch fits}, or {0, µs until the next permit}.
var takeScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, want = tonumber(ARGV[1]), tonumber(ARGV[3])
local burst = math.max(tonumber(ARGV[2]), want)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local k = math.min(want, math.floor((now + burst * interval - tat) / interval))
local cap = 1e15 -- µs (31 years): keeps replies within integers
if k < 1 then
  return {0, math.min(math.ceil(tat + interval - burst * interval - now), cap)}
end
tat = tat + k * interval
local ttl = math.min(math.ceil((tat - now) / 1000) + 1, 1e12)
redis.call('SET', KEYS[1], string.format('%.0f', math.ceil(tat)), 'PX', string.format('%.0f', ttl))
return {k, math.min(math.max(math.ceil(tat + want * interval - burst * interval - now), 0), cap)}
`)

// Allow reports whether a call may run now, taking a permit if so. It does
// not wait; it makes a round trip to Redis only when its batch of permits
// is spent.
func (l *Limiter) Allow() bool {
	return l.take(context.Background())
}

// take takes a permit: from the lease if it has one left, else from Redis.
func (l *Limiter) take(ctx context.Context) bool {
	if ls := l.lease.Load(); ls != nil && ls.left.Add(-1) >= 0 && l.now() < ls.expires {
		return true
	}
	return l.takeSlow(ctx)
}

func (l *Limiter) takeSlow(ctx context.Context) bool {
	now := l.now()
	if now < l.next.Load() {
		return false // Redis said so: no round trip until then
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now = l.now()
	if ls := l.lease.Load(); ls != nil && ls.left.Add(-1) >= 0 && now < ls.expires {
		return true // another caller refilled it
	}
	if now < l.next.Load() {
		return false
	}
	if now < l.downUntil {
		return l.fallback(now)
	}
	var r []int64
	err := l.store.call(ctx, func(ctx context.Context) (err error) {
		r, err = takeScript.Run(ctx, l.store.client, l.keys, l.interval, l.burst, l.batch).Int64Slice()
		return err
	})
	if ctx.Err() != nil {
		return false
	}
	if err != nil || len(r) != 2 {
		l.downUntil = l.now() + int64(l.retry)
		return l.fallback(l.now())
	}
	now = l.now()
	if r[0] < 1 {
		l.next.Store(now + r[1]*int64(time.Microsecond))
		return false
	}
	// Once this batch is spent, come back when a whole one fits: one
	// round trip per batch, not per permit, when the fleet is saturated.
	l.next.Store(now + r[1]*int64(time.Microsecond))
	ls := &lease{expires: now + int64(BatchLifetime)}
	ls.left.Store(r[0] - 1)
	l.lease.Store(ls)
	return true
}

// fallback decides while Redis is unavailable. Called under mu.
func (l *Limiter) fallback(now int64) bool {
	switch l.onError {
	case FailClosed:
		l.next.Store(l.downUntil)
		return false
	case Local:
		if next, ok := l.local.take(now); !ok {
			l.next.Store(next)
			return false
		}
		return true
	default:
		return true
	}
}

// retryAfter is how long until the next permit, as last known.
func (l *Limiter) retryAfter() time.Duration {
	return time.Duration(max(l.next.Load()-l.now(), 0))
}

// Wait waits until a permit is granted, or ctx ends: it then returns an
// error matching ctx's error and policy.ErrRejected. If the next permit
// comes after ctx's deadline, it returns at once with the rejection
// (matching ErrRateLimited).
func (l *Limiter) Wait(ctx context.Context) error {
	return l.wait(ctx, time.Time{})
}

// wait waits for a permit until ctx ends or, if not zero, until limit.
func (l *Limiter) wait(ctx context.Context, limit time.Time) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return &waitError{err: err}
		}
		if l.take(ctx) {
			return nil
		}
		if ctx.Err() != nil {
			continue
		}
		d := max(l.retryAfter(), time.Millisecond/10)
		at := time.Now().Add(d)
		if deadline, ok := ctx.Deadline(); ok && at.After(deadline) || !limit.IsZero() && at.After(limit) {
			return l.err
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
	}
}

// Execute runs fn if a permit is granted, waiting for one up to MaxWait;
// else it returns an error matching ErrRateLimited and policy.ErrRejected,
// whose RetryAfter is the time to the next permit, without running fn. A
// caller whose ctx ends while waiting gets an error matching ctx's error
// and policy.ErrRejected. fn's error comes back unchanged; a panic in fn
// goes on (a permit is spent when fn starts: nothing to give back).
func (l *Limiter) Execute(ctx context.Context, fn policy.Func) error {
	if !l.take(ctx) {
		if err := ctx.Err(); err != nil {
			return &waitError{err: err}
		}
		if l.maxWait <= 0 {
			l.rejected.Inc(ctx)
			return l.err
		}
		if err := l.wait(ctx, time.Now().Add(l.maxWait)); err != nil {
			if err == l.err {
				l.rejected.Inc(ctx)
			}
			return err
		}
	}
	return fn(ctx)
}

var _ policy.ModalPolicy = (*Limiter)(nil)

// AttemptMode returns policy.SequentialAttempts: the limiter runs its
// function at most once, and never after Execute returns.
func (*Limiter) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }

// maxLocalInterval bounds the interval of the local limiter (about 12
// days between permits), so that its arithmetic cannot overflow.
const maxLocalInterval = int64(1) << 50

// gcra is a local GCRA limiter in ns of the limiter's clock, for
// OnStoreError Local. Guarded by the Limiter's mu.
type gcra struct {
	interval  int64
	tolerance int64 // (burst-1) × interval: how far ahead TAT may be
	tat       int64
}

// take grants a permit at now, or returns when the next one comes.
func (g *gcra) take(now int64) (next int64, ok bool) {
	tat := max(g.tat, now)
	if tat-now > g.tolerance {
		return tat - g.tolerance, false
	}
	g.tat = tat + g.interval
	return 0, true
}

// satMul is a × b for non-negative a and b, saturating at math.MaxInt64.
func satMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}
