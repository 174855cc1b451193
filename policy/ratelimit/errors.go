package ratelimit

import (
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
)

// error.type values of the errors a RateLimiter returns.
const (
	errorType     = "rate_limited"
	waitEndedType = "rate_limit_wait_ended"
)

// ErrLimited is matched, with errors.Is, by every error with which a
// RateLimiter refuses a call. It matches [policy.ErrRejected].
var ErrLimited error = sentinel{}

type sentinel struct{}

func (sentinel) Error() string        { return "palisade/ratelimit: rate limit exceeded" }
func (sentinel) Is(target error) bool { return target == policy.ErrRejected }
func (sentinel) ErrorType() string    { return errorType }

// Error is the error of a call a RateLimiter did not run. It matches
// [policy.ErrRejected], and:
//
//   - [ErrLimited], when the limiter refused the call: no permit was free and
//     none would be within MaxWait (or before the context's deadline);
//   - the context's error, when the call's context ended while it waited for
//     its permit. Err holds that error.
type Error struct {
	// Policy is the name of the RateLimiter.
	Policy string
	// Delay is, for a refusal, the time until the next permit, assuming
	// nobody else takes it; for a waiter whose context ended, how long it
	// had waited.
	Delay time.Duration
	// Err is the context's error when the call's context ended while it
	// waited, else nil.
	Err error
}

// Error describes the refusal.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("palisade/ratelimit: %s: gave up waiting for a permit after %v: %v", e.Policy, e.Delay, e.Err)
	}
	return fmt.Sprintf("palisade/ratelimit: %s: rate limit exceeded, next permit in %v", e.Policy, e.Delay)
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is policy.ErrRejected, or ErrLimited for a
// refusal (Err nil).
func (e *Error) Is(target error) bool {
	return target == policy.ErrRejected || (target == ErrLimited && e.Err == nil)
}

// ErrorType returns "rate_limited" for a refusal and
// "rate_limit_wait_ended" for a call whose context ended while it waited.
func (e *Error) ErrorType() string {
	if e.Err != nil {
		return waitEndedType
	}
	return errorType
}

// RetryAfter returns, for a refusal, the time until the next permit
// (policy.RetryAfter finds it); 0 for a waiter whose context ended.
func (e *Error) RetryAfter() time.Duration {
	if e.Err != nil {
		return 0
	}
	return e.Delay
}
