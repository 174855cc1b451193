package bulkhead

import (
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
)

// error.type values of the errors a Bulkhead returns.
const (
	errorType     = "bulkhead_full"
	waitEndedType = "bulkhead_wait_ended"
)

// ErrFull is matched, with errors.Is, by every error with which a Bulkhead
// refuses a call: when its queue is full, and when a call waited MaxWait in
// the queue without getting a slot. It matches [policy.ErrRejected].
var ErrFull error = sentinel{}

type sentinel struct{}

func (sentinel) Error() string        { return "palisade/bulkhead: bulkhead full" }
func (sentinel) Is(target error) bool { return target == policy.ErrRejected }
func (sentinel) ErrorType() string    { return errorType }

// Error is the error of a call a Bulkhead did not run. It matches
// [policy.ErrRejected], and:
//
//   - [ErrFull], when the bulkhead refused the call: its queue was full, or
//     the call waited MaxWait in it without getting a slot;
//   - the context's error (context.Canceled, context.DeadlineExceeded), when
//     the call's context ended while it waited for a slot. Err holds that
//     error. Such a call never reached its function, so a breaker outside
//     the bulkhead counts it neither as success nor as failure, and a
//     timeout between them wraps it, still matching policy.ErrRejected.
//
// A Bulkhead builds its two refusals (queue full, wait expired) once and
// returns the same pointers to every refused call, so that rejecting costs no
// allocation: do not modify them.
type Error struct {
	// Policy is the name of the Bulkhead.
	Policy string
	// Waited is how long the call waited in the queue before it was refused:
	// 0 when it was refused at once because the queue was full (or the
	// bulkhead has none), the bulkhead's MaxWait when that passed, and the
	// time spent in the queue when the call's context ended there.
	Waited time.Duration
	// Err is the context's error when the call's context ended while it
	// waited for a slot, else nil.
	Err error
}

// Error describes the refusal.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("palisade/bulkhead: %s: gave up waiting for a slot after %v: %v", e.Policy, e.Waited, e.Err)
	}
	if e.Waited > 0 {
		return fmt.Sprintf("palisade/bulkhead: %s: no slot freed within %v", e.Policy, e.Waited)
	}
	return fmt.Sprintf("palisade/bulkhead: %s: bulkhead full", e.Policy)
}

// Unwrap returns Err: the context's error when the call's context ended
// while it waited, else nil.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is policy.ErrRejected, or ErrFull for a
// refusal (Err nil).
func (e *Error) Is(target error) bool {
	return target == policy.ErrRejected || (target == ErrFull && e.Err == nil)
}

// ErrorType returns "bulkhead_full" for a refusal and
// "bulkhead_wait_ended" for a call whose context ended while it waited.
func (e *Error) ErrorType() string {
	if e.Err != nil {
		return waitEndedType
	}
	return errorType
}
