// Package limiter limits how many calls run at once, with a limit that
// adapts to the dependency: it grows while latency stays at its no-load
// level and shrinks as latency shows a queue building up, so that a client
// (or a server shedding load) keeps just enough calls in flight to use the
// dependency's capacity without queueing in front of it.
//
// A [Limiter] is a bulkhead whose MaxConcurrent moves. A call takes a slot if
// the calls in flight are below the limit; else it waits in an optional
// first-in, first-out queue (MaxQueue, MaxWait, as in package bulkhead) or
// is refused with an error matching [ErrLimited] and [policy.ErrRejected].
//
// # Measuring
//
// One call in 8 that found a slot free (counted in the word that holds the
// calls in flight, so that picking costs nothing), every call that had to
// wait, and every call during a probe is timed, from when it got its slot to when its function returned: two clock
// readings and a few shared atomic adds would cost more than the rest of
// the call, and a loaded dependency gives plenty of samples. A timed
// success is a latency sample. An error for which
// Config.IsDropped reports true (by default, a deadline that is not the
// caller's: an inner timeout) is a drop, as is a call slower than
// MaxHealthyLatency; other errors say nothing either way. Left out
// entirely: a call whose caller's context ended (its latency is the
// caller's), a rejection by an inner policy (its near-zero latency would
// read as a fast dependency), a panic, and calls the limiter refused.
//
// Samples are gathered without a lock into a window of at least
// SampleWindow and MinSamples; the call that closes the window moves the
// limit, once, under a lock no other call waits for.
//
// # Algorithms
//
// [Vegas] (the default), after Netflix's concurrency-limits: with the
// no-load latency L0 and the window's average latency L, the queue at the
// dependency is estimated as limit × (1 − L0/L). Below log10(limit) the
// limit grows by 6·log10(limit); below alpha = 3·log10(limit) by
// log10(limit); above beta = 6·log10(limit) it shrinks by log10(limit) or,
// when that is more, down to limit × L0/L (the concurrency the dependency
// serves without a queue) plus the middle of the alpha..beta band: Netflix's
// one step per window takes seconds to follow a halved capacity. It shrinks
// by at most half per window; a window with a drop shrinks it by
// log10(limit). For a small dependency the band is capped by the
// concurrency it serves without a queue, S = limit × L0/L: beta by S and
// alpha by S/2. A band of 3..6 calls suits a dependency serving tens of
// calls at once, but 6 queued in front of 4 workers is 1.5 service times
// of waiting: the cap keeps the latency of a small one under about twice
// its no-load latency.
//
// [Gradient2], after Netflix's Gradient2Limit: limit × clamp(Tolerance ×
// long-term latency / short-term latency, 0.5, 1) + 4, smoothed by
// Smoothing; a window with a drop halves the first term.
//
// [AIMD]: +1 per window while at least half the limit is in use, × Backoff
// after a window with a drop.
//
// Vegas and Gradient2 move the limit on latency only while at least half of
// it is in use: an idle limiter learns nothing about a higher limit, and a
// slower dependency is not slowed by a limit it does not reach (shrinking
// it would only refuse the next burst). Drops shrink it always.
//
// # The latency baseline
//
// Vegas's no-load latency and Gradient2's long-term latency are where
// latency-based limiters go wrong in long incidents: measured under
// overload, the baseline creeps up until the overload looks normal
// (failsafe-go#127). Here, as in Envoy's adaptive concurrency filter, the
// no-load latency is measured by a probe: after the first window, and then
// every ProbeInterval, the limit is held at [ProbeLimit] (3) for one window,
// and that window's latency — of calls that started within it — becomes the
// baseline. Between probes the baseline may go down, never up, and
// Gradient2's long-term average does not rise while the limit is binding.
// A probe costs about one window of reduced concurrency per ProbeInterval
// (100 ms in 30 s by default).
//
// Against a dependency where every call is slow the same way (all of them
// timing out at one latency, which a gradient reads as "no queue":
// concurrency-limits#137), timeouts count as drops, and MaxHealthyLatency
// makes any call slower than it one.
//
// # Telemetry
//
// Refusals are counted in palisade.rejected_calls (error.type
// concurrency_limited); the limit, the calls in flight and the calls queued
// are observed as palisade.limiter.limit, .inflight and .queued. A change
// of the limit by 20% or more since the last one reported adds a
// palisade.limiter.limit_change event to the span of the call that made
// it; smaller steps, and the probes, add none.
//
// # Cost
//
// Taking and freeing a slot are the bulkhead's: one compare-and-swap and
// one atomic add while nobody waits. A timed call (one in 8) adds two
// readings of the monotonic clock and a few atomic adds.
// The price of sampling: at a low call rate a window takes longer to fill
// (MinSamples timed calls), so the limit moves more slowly — where it
// matters least.
package limiter
