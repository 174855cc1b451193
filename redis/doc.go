// Package redis shares palisade's policies across the replicas of a
// service through Redis: a circuit breaker whose openings reach every
// replica ([Breaker]), and a rate limit for the whole fleet ([Limiter]).
// It is a module of its own, github.com/palisade-go/palisade/redis, so
// that the library does not depend on go-redis. Its package name is
// redis: import it under another name (palisaderedis) next to go-redis.
//
// Both take a go-redis client with ContextTimeoutEnabled set, so that
// StoreTimeout (100ms by default) bounds every call to Redis, and neither
// closes it.
//
// # Shared breaker
//
// Each replica keeps its own local [breaker.Breaker], and every call goes
// through it alone: no Redis command runs on a call's path, and a call
// costs what it costs on a local breaker. What is shared is state, by a
// worker goroutine per Breaker:
//
//   - An opening. When a replica's breaker opens, the worker writes the
//     break (a new episode: a number that only grows, and when the break
//     ends) to Redis and publishes it; the other replicas receive it and
//     open their breakers until the same instant ([breaker.Breaker.OpenUntil]).
//     They also read the state every PollInterval (250ms), which covers
//     announcements lost while a connection was down. Every replica
//     remembers the latest episode it applied: an announcement of an
//     older or the same episode, late or duplicated, is ignored, so it
//     never reopens a breaker nor extends a break. The break's end is
//     counted on Redis's clock (TIME) and handed over as time left, so
//     that the replicas' clocks need not agree.
//   - The trial calls. When the break is over, every replica is
//     half-open, but only the one holding the episode's lease (SET NX
//     with an expiry, renewed while it runs its trials) runs trial calls:
//     the others reject calls as a half-open breaker with every trial
//     taken (breaker.Config.TrialGate). The dependency sees HalfOpenCalls trials,
//     not HalfOpenCalls per replica. If a trial fails, the holder opens
//     again: a new episode. If its trials close it, it announces the
//     episode closed, and the others close by trial calls of their own
//     (a replica whose own path to the dependency is broken is not forced
//     closed). A holder that dies leaves the lease to lapse after
//     LeaseDuration (5s).
//   - Optionally, a quorum (BreakerConfig.Quorum): a replica's opening is
//     then a vote, and the fleet opens when Quorum replicas voted within
//     QuorumWindow; until then each opening stays its replica's own, so
//     that one replica with a bad network path does not open the others.
//
// An opening reaches the other replicas as fast as Redis pub/sub delivers
// and their worker goroutine gets a core (measured on one host: p50 0.4ms,
// p99 1ms; with every core saturated by calls, p99 under 100ms), and
// within PollInterval plus a round trip if the announcement was lost.
//
// When Redis cannot be reached or answers after StoreTimeout, the failure
// is counted (palisade.store.errors) and each replica's breaker goes on
// alone: it opens and closes on its own calls, and runs its own trial
// calls. No call waits on Redis at any time. When Redis answers again,
// the replica rejoins: it reads the fleet's state (opening if the fleet is
// open) and announces an opening of its own that the fleet did not hear
// of.
//
// # Shared rate limit
//
// A [Limiter] grants the whole fleet Rate permits per second with GCRA,
// the generic cell rate algorithm: Redis keeps one number per limit, the
// theoretical arrival time (TAT) of the next permit; a permit may be
// granted at time now if TAT − now ≤ (Burst − 1) / Rate, and moves TAT on
// by 1/Rate. The whole decision is one Lua script, on Redis's clock.
//
// A round trip per call would cost more than many calls are worth, so a
// replica takes its permits in batches (LimiterConfig.Batch; by default
// the permits of 10ms at Rate) and grants them locally, lock-free, until
// they are spent or lapse (after BatchLifetime, 1s). The price: the fleet
// may exceed the limit by up to one batch per replica over any period (a
// replica holds one batch at a time: what it grants in a period beyond
// what Redis granted in it is at most the batch it held when the period
// began), and the burst is at least a batch.
// Refused, a replica does not ask Redis again until the time to the next
// permit (the RetryAfter of its rejections) has passed.
//
// While Redis fails, the limiter does what LimiterConfig.OnStoreError
// says — FailOpen (admit all; the default), FailClosed (reject all) or
// Local (each replica limits itself to Rate ÷ Replicas) — and asks Redis
// again after StoreRetry.
package redis
