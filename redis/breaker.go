package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/policy/breaker"
)

// Defaults of the BreakerConfig fields left zero.
const (
	// DefaultPollInterval is how often a replica reads the fleet's state,
	// besides the announcements it receives.
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultLeaseDuration is how long the fleet's trial lease lasts
	// without renewal: a replica that dies holding it blocks the others'
	// trial calls that long at most.
	DefaultLeaseDuration = 5 * time.Second
	// DefaultQuorumWindow is how long a replica's vote for opening counts
	// towards the quorum.
	DefaultQuorumWindow = 10 * time.Second
)

// BreakerConfig configures a [Breaker]: a local circuit breaker whose
// openings are shared, through Redis, with the breakers of the same Key in
// other processes.
type BreakerConfig struct {
	// Client reaches Redis; required. It must have ContextTimeoutEnabled
	// set (for *redis.Client, *redis.ClusterClient and *redis.Ring), so
	// that StoreTimeout bounds every call. Close does not close it.
	Client goredis.UniversalClient
	// Key names the shared breaker in Redis: the breakers of every replica
	// with the same KeyPrefix and Key share their state. Required.
	Key string
	// KeyPrefix starts the name of every key and channel; default
	// "palisade". Keys are KeyPrefix:breaker:{Key}:state, …:lease and
	// …:votes; the channel is KeyPrefix:breaker:{Key}:events.
	KeyPrefix string
	// Breaker configures the local breaker. Its OnStateChange is called as
	// usual; its TrialGate must be nil: the shared breaker sets it.
	Breaker breaker.Config
	// ReplicaID names this replica in the trial lease and the quorum's
	// votes; default: host name, process ID and a random suffix. Replicas
	// must have distinct IDs.
	ReplicaID string

	// PollInterval is how often the replica reads the fleet's state,
	// besides receiving its announcements (which may be lost while the
	// connection is down); default 250ms. It also paces the renewal of
	// the trial lease and the retries after Redis failed.
	PollInterval time.Duration
	// StoreTimeout bounds every call to Redis; default 100ms.
	StoreTimeout time.Duration
	// LeaseDuration is how long the fleet's trial lease lasts unless its
	// holder renews it (which it does at every PollInterval while
	// half-open); default 5s. Must exceed PollInterval.
	LeaseDuration time.Duration
	// Quorum, if above 1, is how many replicas must have opened their
	// breaker (within QuorumWindow) before the fleet opens: until then a
	// replica's opening stays its own. Default 1: any replica's opening
	// opens the fleet.
	Quorum int
	// QuorumWindow is how long a replica's opening counts towards the
	// Quorum; default 10s. Used only with Quorum above 1.
	QuorumWindow time.Duration
}

// Breaker is a circuit breaker shared by the replicas of a service: each
// replica keeps its own local [breaker.Breaker], embedded here, that runs
// every call without any Redis command; what is shared is its openings
// and its trial calls. See the package documentation for how.
//
// Use it as the local breaker ([Breaker.Execute], Allow, State, Metrics,
// …). Isolate and Reset act on this replica only; an opening forced with
// OpenUntil is shared as any other. Close it when done: its worker runs
// until then.
type Breaker struct {
	*breaker.Breaker

	store    store
	keys     [4]string // state, lease, votes, channel
	id       string
	poll     time.Duration
	leaseTTL time.Duration
	quorum   int
	window   time.Duration
	onChange func(from, to breaker.State)

	gate atomic.Bool   // TrialGate's answer
	kick chan struct{} // wakes the worker; capacity 1

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	fleet fleetView // the worker's view of the fleet
}

// fleetView is what a replica knows of the fleet. Only the worker writes
// it.
type fleetView struct {
	// seen is the latest fleet episode (opening) known: announcements and
	// reads of older or equal episodes are ignored, so that a late or
	// duplicate one never reopens a breaker nor extends a break.
	seen int64
	// closed is the latest episode known to have closed.
	closed int64
	// applied is the last break received from the fleet, on the local
	// clock: a local opening that ends no later is the fleet's, not ours
	// to announce.
	applied time.Time
	// announced is the end of the last local break announced (or voted).
	announced time.Time
	// lease is the episode whose trial lease this replica holds; 0 if none.
	lease int64
	// leaseTried is when the lease was last asked for.
	leaseTried time.Time
	// down is set while Redis fails: the breaker runs alone.
	down bool
}

// NewBreaker returns a shared breaker configured by cfg, or an error
// naming the first invalid field, and starts its worker: a goroutine that
// receives the fleet's announcements, reads its state every PollInterval
// and announces this replica's openings. It does not wait for Redis: a
// replica that cannot reach it runs alone until it can.
func NewBreaker(cfg BreakerConfig) (*Breaker, error) {
	if err := checkClient("BreakerConfig", cfg.Client); err != nil {
		return nil, err
	}
	switch {
	case cfg.Key == "":
		return nil, errorf("BreakerConfig.Key is required")
	case cfg.Breaker.TrialGate != nil:
		return nil, errorf("BreakerConfig.Breaker.TrialGate must be nil: the shared breaker sets it")
	case cfg.PollInterval < 0:
		return nil, errorf("BreakerConfig.PollInterval must be >= 0 (0 means %v), got %v", DefaultPollInterval, cfg.PollInterval)
	case cfg.StoreTimeout < 0:
		return nil, errorf("BreakerConfig.StoreTimeout must be >= 0 (0 means %v), got %v", DefaultStoreTimeout, cfg.StoreTimeout)
	case cfg.LeaseDuration < 0:
		return nil, errorf("BreakerConfig.LeaseDuration must be >= 0 (0 means %v), got %v", DefaultLeaseDuration, cfg.LeaseDuration)
	case cfg.Quorum < 0:
		return nil, errorf("BreakerConfig.Quorum must be >= 0 (0 means 1), got %d", cfg.Quorum)
	case cfg.QuorumWindow < 0:
		return nil, errorf("BreakerConfig.QuorumWindow must be >= 0 (0 means %v), got %v", DefaultQuorumWindow, cfg.QuorumWindow)
	}
	s := &Breaker{
		id:       cfg.ReplicaID,
		poll:     or(cfg.PollInterval, DefaultPollInterval),
		leaseTTL: or(cfg.LeaseDuration, DefaultLeaseDuration),
		quorum:   max(cfg.Quorum, 1),
		window:   or(cfg.QuorumWindow, DefaultQuorumWindow),
		onChange: cfg.Breaker.OnStateChange,
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	if s.leaseTTL <= s.poll {
		return nil, errorf("BreakerConfig.LeaseDuration must exceed PollInterval (%v), or the lease would lapse between renewals, got %v", s.poll, s.leaseTTL)
	}
	if s.id == "" {
		s.id = replicaID()
	}
	local := cfg.Breaker
	local.TrialGate = s.trialGate
	local.OnStateChange = s.stateChanged
	b, err := breaker.New(local)
	if err != nil {
		return nil, err
	}
	s.Breaker = b
	prefix := cfg.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	s.keys = [4]string{
		key(prefix, "breaker", cfg.Key, "state"),
		key(prefix, "breaker", cfg.Key, "lease"),
		key(prefix, "breaker", cfg.Key, "votes"),
		key(prefix, "breaker", cfg.Key, "events"),
	}
	s.store = store{
		client:  cfg.Client,
		timeout: or(cfg.StoreTimeout, DefaultStoreTimeout),
		report:  report.NewStore(cfg.Breaker.Telemetry, semconv.PolicyTypeBreaker, b.Name()),
	}
	s.gate.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.run(ctx)
	return s, nil
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func replicaID() string {
	host, _ := os.Hostname()
	var r [4]byte
	_, _ = rand.Read(r[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(r[:])
}

// Close stops the worker, gives back the trial lease if this replica holds
// it, and waits for both; the local breaker goes on working alone. It does
// not close the Redis client. It is safe to call more than once.
func (s *Breaker) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		<-s.done
	})
	return nil
}

// trialGate is the local breaker's Config.TrialGate: a half-open replica
// runs trial calls only while it holds the fleet's lease, the fleet has
// closed, or Redis cannot be reached. Asked on half-open admissions only,
// it reads one atomic; when closed, it wakes the worker, which asks for
// the lease.
func (s *Breaker) trialGate() bool {
	if s.gate.Load() {
		return true
	}
	s.wake()
	return false
}

func (s *Breaker) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// stateChanged is the local breaker's OnStateChange: the user's, then a
// word to the worker, which looks at the new state. (In this order, the
// user hears of a transition before any other replica can.)
func (s *Breaker) stateChanged(from, to breaker.State) {
	if to == breaker.Open {
		// A failed trial call reopened the local breaker: its lease was
		// for the episode that just ended. Until the worker has announced
		// the new one and judged again, no trial call may start on the old
		// lease — a worker starved past the local break would otherwise
		// let a second trial call into the same fleet episode.
		s.gate.Store(false)
	}
	defer s.wake()
	if s.onChange != nil {
		s.onChange(from, to)
	}
}

// run is the worker.
func (s *Breaker) run(ctx context.Context) {
	defer close(s.done)
	subCtx, cancel := context.WithTimeout(ctx, s.store.timeout)
	ps := s.store.client.Subscribe(subCtx, s.keys[3]) // reconnects by itself
	cancel()
	defer ps.Close()
	msgs := ps.Channel(goredis.WithChannelHealthCheckInterval(max(s.poll*4, time.Second)))
	tick := time.NewTicker(s.poll)
	defer tick.Stop()

	s.read(ctx)
	for {
		s.sync(ctx)
		select {
		case <-ctx.Done():
			s.releaseLease(context.Background())
			return
		case m, ok := <-msgs:
			if !ok {
				msgs = nil // closed: polling only (go-redis closes it only on Close)
				continue
			}
			s.announcement(m.Payload)
		case <-tick.C:
			s.read(ctx)
		case <-s.kick:
		}
	}
}

// The fleet's state is one hash, KEYS[1]: ep (the number of the latest
// opening, never decreasing), until (when its break ends, in ms of Redis
// TIME) and closed (the latest episode whose trial calls closed it).
// Announcements on the channel are "o <ep> <ms left>" and "c <ep>".
// Every script reads TIME itself, so that no replica's clock matters.

// readScript returns {ep, ms left of its break, closed}.
var readScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local v = redis.call('HMGET', KEYS[1], 'ep', 'until', 'closed')
local ep, untl, closed = tonumber(v[1] or '0'), tonumber(v[2] or '0'), tonumber(v[3] or '0')
return {ep, math.max(untl - now, 0), closed}
`)

// openScript announces a replica's opening: ARGV = replica, ms of its
// break, quorum, quorum window ms. With a quorum, the opening is a vote:
// the fleet opens when quorum replicas voted within the window. A break
// already running in the fleet that ends no earlier is kept (and returned
// as is): no new episode. Returns {opened (0/1), ep, ms left, closed}.
var openScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local v = redis.call('HMGET', KEYS[1], 'ep', 'until', 'closed')
local ep, untl, closed = tonumber(v[1] or '0'), tonumber(v[2] or '0'), tonumber(v[3] or '0')
local want = now + tonumber(ARGV[2])
local quorum = tonumber(ARGV[3])
if quorum > 1 then
  local window = tonumber(ARGV[4])
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  redis.call('PEXPIRE', KEYS[2], window)
  if redis.call('ZCARD', KEYS[2]) < quorum then
    return {0, ep, math.max(untl - now, 0), closed}
  end
  redis.call('DEL', KEYS[2])
end
if closed < ep and untl >= want then
  return {0, ep, untl - now, closed}
end
ep = ep + 1
redis.call('HSET', KEYS[1], 'ep', ep, 'until', want)
redis.call('PUBLISH', KEYS[3], 'o ' .. ep .. ' ' .. ARGV[2])
return {1, ep, tonumber(ARGV[2]), closed}
`)

// closeScript announces that the trial calls of episode ARGV[1] closed the
// breaker of the lease's holder, unless a newer episode began meanwhile.
var closeScript = goredis.NewScript(`
local ep = tonumber(redis.call('HGET', KEYS[1], 'ep') or '0')
if ep ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'closed', ep)
redis.call('PUBLISH', KEYS[2], 'c ' .. ep)
return 1
`)

// leaseScript takes or renews the trial lease of episode ARGV[2] for token
// ARGV[1], for ARGV[3] ms; only while that episode is the fleet's latest,
// so that a replica that has not yet heard of a newer opening cannot start
// trial calls. Returns 1 if the token holds the lease.
var leaseScript = goredis.NewScript(`
local ep = tonumber(redis.call('HGET', KEYS[1], 'ep') or '0')
if ep ~= tonumber(ARGV[2]) then return 0 end
local holder = redis.call('GET', KEYS[2])
if not holder then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
`)

// releaseScript gives the lease back if token ARGV[1] holds it.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// do runs a store call and keeps track of whether Redis works: the first
// success after failures is a rejoin.
func (s *Breaker) do(ctx context.Context, fn func(ctx context.Context) error) error {
	err := s.store.call(ctx, fn)
	if ctx.Err() != nil {
		return err
	}
	s.fleet.down = err != nil
	return err
}

// read reads the fleet's state.
func (s *Breaker) read(ctx context.Context) {
	var r []int64
	err := s.do(ctx, func(ctx context.Context) (err error) {
		r, err = readScript.Run(ctx, s.store.client, s.keys[:1]).Int64Slice()
		return err
	})
	if err == nil && len(r) == 3 {
		s.apply(r[0], time.Duration(r[1])*time.Millisecond, r[2], time.Now())
	}
}

// announcement handles a message of the channel.
func (s *Breaker) announcement(payload string) {
	f := strings.Fields(payload)
	switch {
	case len(f) == 3 && f[0] == "o":
		ep, err1 := strconv.ParseInt(f[1], 10, 64)
		left, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 == nil && err2 == nil {
			s.apply(ep, time.Duration(left)*time.Millisecond, 0, time.Now())
		}
	case len(f) == 2 && f[0] == "c":
		if ep, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			s.apply(0, 0, ep, time.Now())
		}
	}
}

// apply brings the local breaker up to the fleet's state: episode ep (if
// newer than any seen) whose break had left to run at local time at, and
// the latest closed episode.
func (s *Breaker) apply(ep int64, left time.Duration, closed int64, at time.Time) {
	f := &s.fleet
	f.closed = max(f.closed, closed)
	if ep <= f.seen {
		return // late or duplicate
	}
	f.seen = ep
	if left <= 0 {
		return // over already: each replica closes by its own trial calls
	}
	until := at.Add(left)
	if until.After(f.applied) {
		f.applied = until
	}
	s.Breaker.OpenUntil(until)
}

// sync acts on the local state: announces a local opening, takes, renews
// or gives back the trial lease, announces a closing, and sets the gate.
func (s *Breaker) sync(ctx context.Context) {
	f := &s.fleet
	m := s.Breaker.Metrics()
	switch m.State {
	case breaker.Open:
		if m.OpenUntil.After(f.applied) && m.OpenUntil.After(f.announced) {
			s.announce(ctx, m.OpenUntil)
		}
		if f.lease != 0 {
			s.releaseLease(ctx) // its trial failed: announced above
		}
	case breaker.HalfOpen:
		if f.lease != 0 && f.lease != f.seen {
			s.releaseLease(ctx)
		}
		switch {
		case f.lease == 0 && f.closed < f.seen && !f.down && time.Since(f.leaseTried) >= s.poll/4,
			f.lease != 0 && time.Since(f.leaseTried) >= s.poll/2: // renew, at every tick
			f.leaseTried = time.Now()
			s.takeLease(ctx)
		}
	default: // Closed (by the trial calls, or Reset) or Isolated
		if f.lease != 0 {
			if m.State == breaker.Closed {
				ep := f.lease
				if s.do(ctx, func(ctx context.Context) error {
					return closeScript.Run(ctx, s.store.client, []string{s.keys[0], s.keys[3]}, ep).Err()
				}) != nil {
					break // keep the lease: announce the closing at the next sync
				}
				f.closed = max(f.closed, ep)
			}
			s.releaseLease(ctx)
		}
	}
	s.gate.Store(f.down || f.closed >= f.seen || f.lease != 0 && f.lease == f.seen)
}

// announce shares a local opening whose break ends at until.
func (s *Breaker) announce(ctx context.Context, until time.Time) {
	left := time.Until(until)
	if left <= 0 {
		return
	}
	ms := max(left.Milliseconds(), 1)
	var r []int64
	err := s.do(ctx, func(ctx context.Context) (err error) {
		r, err = openScript.Run(ctx, s.store.client, []string{s.keys[0], s.keys[2], s.keys[3]},
			s.id, ms, s.quorum, s.window.Milliseconds()).Int64Slice()
		return err
	})
	if err != nil || len(r) != 4 {
		return // announced at a later sync, when Redis answers
	}
	s.fleet.announced = until
	if r[0] == 1 {
		// Our own episode: its announcement, when it comes back, is old.
		s.fleet.seen = max(s.fleet.seen, r[1])
		s.fleet.closed = max(s.fleet.closed, r[3])
		return
	}
	s.apply(r[1], time.Duration(r[2])*time.Millisecond, r[3], time.Now())
}

func (s *Breaker) leaseToken(ep int64) string { return s.id + ":" + strconv.FormatInt(ep, 10) }

// takeLease asks for (or renews) the trial lease of the latest episode.
func (s *Breaker) takeLease(ctx context.Context) {
	ep := s.fleet.seen
	var held int64
	err := s.do(ctx, func(ctx context.Context) (err error) {
		held, err = leaseScript.Run(ctx, s.store.client, s.keys[:2], s.leaseToken(ep), ep, s.leaseTTL.Milliseconds()).Int64()
		return err
	})
	switch {
	case err == nil && held == 1:
		s.fleet.lease = ep
	case err == nil:
		s.fleet.lease = 0 // lapsed and taken, or a newer episode began
	}
}

// releaseLease gives the trial lease back.
func (s *Breaker) releaseLease(ctx context.Context) {
	ep := s.fleet.lease
	if ep == 0 {
		return
	}
	s.fleet.lease = 0
	_ = s.do(ctx, func(ctx context.Context) error {
		return releaseScript.Run(ctx, s.store.client, s.keys[1:2], s.leaseToken(ep)).Err()
	})
}
