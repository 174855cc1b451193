package limiter

import (
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
)

// error.type values of the errors a Limiter returns.
const (
	errorType     = "concurrency_limited"
	waitEndedType = "concurrency_limit_wait_ended"
)

// ErrLimited is matched, with errors.Is, by every error with which a
// Limiter refuses a call: when the limit is reached and its queue is full
// (or it has none), and when a call waited MaxWait in the queue without
// getting a slot. It matches [policy.ErrRejected].
var ErrLimited error = sentinel{}

type sentinel struct{}

func (sentinel) Error() string        { return "palisade/limiter: concurrency limit reached" }
func (sentinel) Is(target error) bool { return target == policy.ErrRejected }
func (sentinel) ErrorType() string    { return errorType }

// Error is the error of a call a Limiter did not run. It matches
// [policy.ErrRejected], and:
//
//   - [ErrLimited], when the limiter refused the call;
//   - the context's error, when the call's context ended while it waited for
//     a slot. Err holds that error.
//
// A Limiter builds its two refusals (queue full, wait expired) once and
// returns the same pointers to every refused call, so that rejecting costs
// no allocation: do not modify them.
type Error struct {
	// Policy is the name of the Limiter.
	Policy string
	// Waited is how long the call waited in the queue: 0 when it was
	// refused at once, MaxWait when that passed, and the time spent in the
	// queue when the call's context ended there.
	Waited time.Duration
	// Err is the context's error when the call's context ended while it
	// waited for a slot, else nil.
	Err error
}

// Error describes the refusal.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("palisade/limiter: %s: gave up waiting for a slot after %v: %v", e.Policy, e.Waited, e.Err)
	}
	if e.Waited > 0 {
		return fmt.Sprintf("palisade/limiter: %s: no slot freed within %v", e.Policy, e.Waited)
	}
	return fmt.Sprintf("palisade/limiter: %s: concurrency limit reached", e.Policy)
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is policy.ErrRejected, or ErrLimited for a
// refusal (Err nil).
func (e *Error) Is(target error) bool {
	return target == policy.ErrRejected || (target == ErrLimited && e.Err == nil)
}

// ErrorType returns "concurrency_limited" for a refusal and
// "concurrency_limit_wait_ended" for a call whose context ended while it
// waited.
func (e *Error) ErrorType() string {
	if e.Err != nil {
		return waitEndedType
	}
	return errorType
}
