// Package retry runs failed calls again, with delays from
// github.com/cenkalti/backoff/v4, hints from the errors themselves, and an
// optional retry budget shared between policies.
//
// A [Retry] runs its function once. If the attempt fails, the error is
// examined in this order:
//
//   - An error wrapping a *backoff.PermanentError (backoff.Permanent(err))
//     ends the call with the permanent error's inner error.
//   - If the caller's context has ended, the error comes back unchanged: a
//     call whose caller gave up is not retried.
//   - If Config.ShouldRetry says no, the error comes back unchanged.
//   - If the call has made MaxAttempts attempts, it ends with an
//     *[ExhaustedError].
//
// Otherwise the policy computes the delay before the next attempt: the
// call's BackOff, made by Config.BackOff at the call's first retry and
// Reset, gives its NextBackOff (backoff.Stop ends the call as exhausted),
// and a longer hint from the error — policy.RetryAfter, such as an open
// breaker's remaining break or an HTTP Retry-After — replaces it:
//
//	delay = max(NextBackOff(), policy.RetryAfter(err))
//
// With Config.MaxDuration set, a retry whose delay would end more than
// MaxDuration after the first attempt started is never scheduled: the call
// ends at once, as exhausted, rather than sleeping through a wait it cannot
// use. Then the [Budget], if any, must allow the retry, or the call ends
// with a *[BudgetExhaustedError], a rejection. Config.OnRetry and the
// telemetry are told, the policy waits the delay — or returns the context's
// error as soon as the context ends — and runs the next attempt.
//
// # Errors
//
// A call's result is, depending on why it stopped: nil; the function's error
// unchanged (not retryable, or the caller's context ended); the inner error
// of a permanent error; an *[ExhaustedError] matching [ErrExhausted] and the
// last error; a *[BudgetExhaustedError] matching [ErrBudgetExhausted],
// policy.ErrRejected and the last error; or the context's error when it
// ended during a delay. A panic in the function is never retried.
//
// # Attempts
//
// Within the function, [Attempt] gives the number of the running attempt,
// 1 for the first. The number travels in the attempt's context, which costs
// one small allocation per retry and nothing for a call whose first attempt
// succeeds; no BackOff is made for such a call either.
//
// # Telemetry
//
// Each retry adds 1 to palisade.retry.retries and, on a recording span in
// the call's context, a palisade.retry event with the attempt about to run,
// the delay in seconds and the failed attempt's error.type. A call that made
// more than one attempt sets palisade.retry.attempts on that span (the
// pipeline's). A retry denied by the budget counts in palisade.rejected_calls
// and adds a palisade.rejected event.
package retry
