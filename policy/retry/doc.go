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
//   - If the call has made MaxAttempts attempts, it ends with an *[Error]
//     matching [ErrExhausted].
//
// Otherwise the policy computes the delay before the next attempt: the
// call's BackOff, made by Config.BackOff at the call's first retry and
// Reset, gives its NextBackOff (backoff.Stop ends the call as exhausted),
// and a longer hint from the error — policy.RetryAfter, such as an open
// breaker's remaining break or an HTTP Retry-After — replaces it:
//
//	delay = max(NextBackOff(), policy.RetryAfter(err))
//
// A hint longer than Config.MaxRetryAfter (1s by default) is not waited
// for: the call ends at once with the error unchanged. This is what makes a
// retry around an open breaker return breaker.ErrOpen at once rather than
// sleep through a 30s break, and what keeps a hostile Retry-After from
// parking the caller.
//
// No wait is started that cannot end in time to be of use: one that would
// end at or after the caller's deadline, or more than Config.MaxDuration
// after the first attempt started, ends the call at once, as exhausted,
// rather than as the context's DeadlineExceeded later. Delays are compared
// with the time left, never added to a time, so a delay of any size (a hint
// of math.MaxInt64 included) is merely too long. Then the budget
// (Config.Budget), if any, must allow the retry, or the call ends with an
// *[Error] whose BudgetExhausted is true, a rejection. Config.OnRetry and
// the telemetry are told, the policy waits the delay — or returns the
// context's error as soon as the context ends — and, if the context has
// still not ended (a zero delay included), runs the next attempt.
//
// # Errors
//
// A call's result is, depending on why it stopped: nil; the function's error
// unchanged (not retryable, or the caller's context ended); the inner error
// of a permanent error; the error unchanged when its hint is longer than
// MaxRetryAfter; an *[Error] matching [ErrExhausted] and the last error;
// an *[Error] with BudgetExhausted set, matching [ErrBudgetExhausted],
// policy.ErrRejected and the last error; or the context's error when it
// ended during a delay or before the next attempt. A panic in the function
// is never retried.
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
