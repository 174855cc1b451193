// Package breaker provides a circuit breaker: a policy that stops calling a
// dependency while too many calls to it fail or are slow, and tries it again
// after a break.
//
// A [Breaker] is in one of four states. Closed, it runs every call and
// records its outcome in a window. When the window holds at least
// MinimumThroughput calls and its failures reach FailureRatio of them (or,
// with SlowCallDuration set, its slow calls reach SlowCallRatio), or when
// ConsecutiveFailures calls in a row have failed, it opens. Open, it
// rejects every call at once with an *[Error] matching [ErrOpen] whose
// RetryAfter (see [policy.RetryAfter]) is the rest of the break. When the
// break is over it is half-open: it lets HalfOpenCalls trial calls run at a
// time — counting those of an earlier half-open period still running — and
// rejects the others; SuccessThreshold successful trial calls close
// it with an empty window, and one failed (or slow) trial call opens it
// again. Isolated, a state entered only by [Breaker.Isolate], it rejects
// every call until [Breaker.Reset].
//
//	closed ──failures──▶ open ──break over──▶ half-open ──successes──▶ closed
//	                      ▲                       │
//	                      └────── a failure ──────┘
//
// The decision to open is taken when a failure or a slow call is recorded:
// a success never opens the breaker. The thresholds are inclusive: with
// FailureRatio 0.5, 5 failures of 10 calls open it.
//
// With BreakFromRetryAfter, the dependency may set the break itself: when
// the failure that opens the breaker carries a hint (policy.RetryAfter, an
// HTTP 429 or 503 with Retry-After), the break lasts that long, capped by
// MaxBreakFromRetryAfter.
//
// # Outcomes
//
// Each call that ran ends in one of three outcomes. It is ignored — it
// counts neither as a success nor as a failure — if it was rejected by a
// policy inside the breaker (its error matches [policy.ErrRejected]), if
// the caller's own context was cancelled and the error matches
// context.Canceled, or if Config.IsIgnored says so; an ignored call takes
// no place in the window, leaves a run of consecutive failures as it was,
// and in half-open gives its trial permit back. Otherwise it is a failure
// if it panicked or Config.IsFailure says its error is one (by default,
// every error), and a success if not. Give IsIgnored the errors that say
// nothing about the dependency, such as a validation error: an error that
// IsFailure merely turns down is a success.
//
// # Windows
//
// A count window (WindowSize, default 100) holds the last WindowSize
// outcomes in a ring of slots. Each outcome takes the slot of the one
// WindowSize calls before it, and the window's counts change by the
// difference, so a call costs the same whatever the size. The slots (4
// bytes each) are allocated by the first outcome, not when the breaker is
// built: a breaker that is never called, one of thousands kept per host,
// costs about 600 bytes.
//
// A time window (WindowDuration) holds the outcomes of the last
// WindowDuration in a ring of [Buckets] buckets, each spanning
// WindowDuration/Buckets. A bucket is recycled when time comes round to it
// again, so an outcome is forgotten between 0.9 and 1.0 × WindowDuration
// after it was recorded, and memory does not grow with traffic.
//
// Both windows belong to one closed period: trial calls never enter them,
// and closing (or Reset) starts an empty one.
//
// # Cost
//
// A closed breaker admits a call by one atomic load. With a count window
// and no SlowCallDuration it reads no clock for a success: recording it is
// an atomic increment of the breaker's call counter and, when the slot it
// takes already holds a success, nothing else, with no lock. A time window
// reads the monotonic clock once per call and counts a success with a
// compare-and-swap on its bucket. Failures, slow calls, the first success
// after a failure, and calls timed because SlowCallDuration is set (two
// clock reads each) take a short lock. Rejecting a call while open reads
// the clock once and allocates nothing. Latency is reported by the
// pipeline (palisade.pipeline.duration), not here.
//
// # Time
//
// The break ends at the instant it was opened plus its duration, that
// instant included, and from then on [Breaker.State] reports HalfOpen
// without waiting for a call. The transition is made by whichever call,
// State or Metrics first observes it. A breaker reads time only from package
// time (the monotonic clock, relative to when it was built), so tests can
// drive it with testing/synctest; build it inside the bubble.
//
// # Late results
//
// Each stay in a state is a separate episode, and a call remembers the one
// it was admitted under. The result of a call that ends in a later episode
// — a closed-state call that ends after the breaker opened, a trial call
// that ends after another one reopened it, any call that ends after Reset —
// is counted in TotalCalls but never changes the state, the window, or the
// length of a break. A late trial call still frees, when it ends, its place
// among the HalfOpenCalls trial calls in flight.
//
// # Transitions
//
// OnStateChange is called after each transition, outside any lock, one call
// at a time and in order. The palisade.breaker.transitions counter and the
// palisade.breaker.state_change span event are reported by the call (on its
// span) or method that made the transition. Metric collection reports the
// state (palisade.breaker.status, 1 for the current state from construction
// on) and palisade.breaker.failure_ratio but makes no transition and runs
// no callback. Each rejection is reported as palisade.rejected_calls and a
// palisade.rejected span event. Nothing is recorded for a successful call.
//
// # Two-step use
//
// Code that cannot be wrapped in a function asks for a [Permit] with
// [Breaker.AllowContext] (or [Breaker.Allow], when the call has no
// context) and reports the outcome with [Permit.Done], which classifies it
// exactly as Execute would. A permit from Allow has no context to tell the
// caller's cancellation from another, so its Done ignores every error
// matching context.Canceled. [Permit.Release] ends a permit without an
// outcome, for a call that was not made: like an ignored outcome, it gives a
// half-open breaker's trial slot back. Every permit must be ended by Done or
// Release; both are idempotent.
package breaker
