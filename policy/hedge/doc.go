// Package hedge cuts tail latency by sending a slow call again.
//
// A [Hedge] runs a call's first attempt and, if it has not succeeded
// within a delay, starts a second one (a hedge) alongside it, then a third
// after another delay, up to MaxHedges; the first attempt to succeed wins,
// and the others are cancelled. As "The Tail at Scale" (Dean and Barroso,
// 2013) reports, a hedge after 10 ms cut a service's 99.9th percentile from
// 1,800 ms to 74 ms for 2% more requests: the slowest calls are usually
// slow because of where they went (a busy replica, a lost packet, a
// garbage collection), and a second try rarely meets the same fate.
//
// Hedging sends requests twice: only use it for calls that are safe to
// repeat (reads, idempotent writes). A transport serving both kinds marks
// the others with [Disable].
//
// # Delay
//
// Config.Delay fixes the delay. Left at zero, the delay follows the
// dependency: it is a live estimate of a quantile (Config.Quantile, 0.95
// by default) of recent latencies, so that only the slowest calls — 5% of
// them at 0.95 — are hedged, whatever the dependency's speed. The estimate
// lives in a histogram of log-linear buckets (16 per power of two, each at
// most 6% wide) in two generations that slide over the most recent samples,
// in constant memory; it is recomputed every few samples and read with one
// atomic load. Each successful call gives one sample, the latency of its
// first attempt — what the call would have taken without hedging: exact
// when the first attempt won, and when a hedge won, the time the first
// attempt had run by then, a lower bound that keeps the slow calls in the
// estimate even though hedging cut them short (counting the winners'
// latencies instead, the estimate would shrink under its own hedging and
// hedge ever more calls). Until enough samples are in, no call is hedged.
// A failed call is no sample.
//
// # Load
//
// Hedges add load, most of all when the dependency is slow for everyone,
// when hedging only makes things worse. Hedges are therefore bounded by a
// [budget.Budget]: at most Config.MaxExtraRatio (0.1 by default) hedges per
// call over the last 10 seconds, or a budget shared with the retries of
// the same dependency (Config.Budget). The bound is strict: with the
// default, the first hedge needs 10 calls in the window, and a service
// with less traffic than that is never hedged; a shared Budget with
// MinExtra set allows a few hedges whatever the traffic. A hedge the budget refuses is not
// started, and no later hedge of that call is; attempts already running
// are never stopped by the budget.
//
// # Attempts and contexts
//
// Every attempt has a context of its own derived from the caller's: an
// inner timeout, or any failure of one attempt, ends that attempt and no
// other. The first attempt runs on the caller's goroutine, so that a call
// answered before the delay — nearly every call — costs no goroutine; each
// hedge runs on the goroutine of the timer that started it, which ends
// when the hedge returns. When an attempt wins, the others' contexts are
// cancelled with the cause [ErrLost]. Losing hedges are not waited for;
// the call returns once the first attempt has returned, which a function
// honouring its context (as every policy.Func must) does at once. An
// attempt that fails does not end the call while another runs. The
// caller's cancellation ends every attempt. [Attempt] tells an attempt
// which one it is.
//
// With net/http, prefer palisadehttp.Transport to hedging an http.Client
// call by hand: cancelling losers makes a race in net/http frequent, in
// which a request on a reused connection fails with a loser's ErrLost as
// its error although its own context is live, and the Transport sends such
// a request again.
//
// A Hedge declares policy.ConcurrentAttempts, so a Pipeline runs the
// policies inside it once per attempt, each attempt with its own call's
// function, and policy.Get returns the winner's value.
//
// # Telemetry
//
// The counter palisade.hedge.hedges counts the hedges started, with
// palisade.hedge.outcome "won" for a hedge that won its call and "lost"
// for the others; each hedge adds the event palisade.hedge, with its
// attempt number and delay, to the span in the caller's context.
package hedge
