package redis

import (
	"time"

	"github.com/palisade-go/palisade/policy"
)

// errorTypeRateLimited is the error.type of a Limiter's rejections.
const errorTypeRateLimited = "rate_limited"

// ErrRateLimited is matched, with errors.Is, by every rejection of a
// [Limiter] for want of a permit. It matches [policy.ErrRejected].
var ErrRateLimited error = sentinel{}

type sentinel struct{}

func (sentinel) Error() string        { return "palisade/redis: rate limited" }
func (sentinel) Is(target error) bool { return target == policy.ErrRejected }
func (sentinel) ErrorType() string    { return errorTypeRateLimited }

// RateLimitError is the rejection of a [Limiter]: no permit was to be had
// (within MaxWait, or before the caller's deadline). One is built per
// limiter, so that rejecting allocates nothing; its RetryAfter is read
// when called.
type RateLimitError struct {
	// Policy is the limiter's name.
	Policy string
	l      *Limiter
}

func (e *RateLimitError) Error() string {
	return "palisade/redis: " + e.Policy + ": rate limited"
}

// Is reports whether target is ErrRateLimited or policy.ErrRejected.
func (e *RateLimitError) Is(target error) bool {
	return target == ErrRateLimited || target == policy.ErrRejected
}

// ErrorType returns "rate_limited".
func (e *RateLimitError) ErrorType() string { return errorTypeRateLimited }

// RetryAfter returns the time until the limiter's next permit, as last
// learned from Redis (or, while Redis is unavailable, from the fallback),
// at the time it is called; zero if it may already be had.
func (e *RateLimitError) RetryAfter() time.Duration { return e.l.retryAfter() }

// waitError is the error of a caller whose context ended while it waited
// for a permit: it matches the context's error and policy.ErrRejected (the
// call never ran, so no breaker outside counts it as a failure).
type waitError struct{ err error }

func (e *waitError) Error() string   { return "palisade/redis: waiting for a permit: " + e.err.Error() }
func (e *waitError) Unwrap() []error { return []error{e.err, policy.ErrRejected} }

// ErrorType returns "rate_limit_wait_ended", as the bulkhead's
// "bulkhead_wait_ended": not a refusal, the caller stopped waiting.
func (e *waitError) ErrorType() string { return "rate_limit_wait_ended" }
