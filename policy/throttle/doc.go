// Package throttle rejects calls on the client side, before they reach a
// dependency that is already refusing work: adaptive throttling from Google's
// SRE book ("Handling Overload").
//
// A [Throttle] counts, over a sliding Window (default 2 minutes), the calls
// it was asked to make (requests: every Execute, the ones it rejected
// included) and the calls the dependency accepted (accepts: by default, the
// ones that returned no error). Each new call is rejected, without running,
// with probability
//
//	P(reject) = max(0, (requests − K × accepts) / (requests + 1))
//
// With K = 2 (the default) nothing is rejected while at least half the calls
// succeed; beyond that, the client sends the dependency about K × accepts
// calls, so a dependency that can take only a fraction of the load is not
// also spending its capacity on refusing the rest. Because rejected calls
// count as requests, the rejection probability keeps up with the overload;
// because accepts come back as the dependency recovers, the throttle lets
// more calls through without a timer or a probe.
//
// Config.IsAccepted says what counts as accepted; for an HTTP client, count
// 5xx and 429 answers (and slow ones) as not accepted. A call whose caller's
// context ended counts neither way (it is removed from requests).
//
// # Cost
//
// The window is a ring of 16 buckets, each an (epoch, count) pair packed in
// one word for requests and one for accepts, updated by compare-and-swap: no
// lock, O(1) per call (a sum over the 16 buckets, one clock reading and one
// random draw from math/rand/v2). A call's accept is added to the bucket of
// its request, so a call longer than the window is forgotten, not counted
// twice.
//
// A rejection is an *[Error] matching [ErrThrottled] and
// [policy.ErrRejected] (error.type throttled), built once per Throttle.
package throttle
