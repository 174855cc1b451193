package bulkhead

import (
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
)

// errorType is the error.type of every error a Bulkhead returns.
const errorType = "bulkhead_full"

// ErrFull is matched, with errors.Is, by every error with which a Bulkhead
// refuses a call: when its queue is full, and when a call waited MaxWait in
// the queue without getting a slot. It matches [policy.ErrRejected].
var ErrFull error = sentinel{}

type sentinel struct{}

func (sentinel) Error() string        { return "palisade/bulkhead: bulkhead full" }
func (sentinel) Is(target error) bool { return target == policy.ErrRejected }
func (sentinel) ErrorType() string    { return errorType }

// Error is the error of a call a Bulkhead refused. It matches [ErrFull] and
// [policy.ErrRejected].
//
// A Bulkhead builds its two Error values (queue full, wait expired) once and
// returns the same pointers to every refused call, so that rejecting costs no
// allocation: do not modify them.
type Error struct {
	// Policy is the name of the Bulkhead.
	Policy string
	// Waited is how long the call waited in the queue before it was refused:
	// 0 when it was refused at once because the queue was full (or the
	// bulkhead has none), the bulkhead's MaxWait when that passed.
	Waited time.Duration
}

// Error describes the refusal.
func (e *Error) Error() string {
	if e.Waited > 0 {
		return fmt.Sprintf("palisade/bulkhead: %s: no slot freed within %v", e.Policy, e.Waited)
	}
	return fmt.Sprintf("palisade/bulkhead: %s: bulkhead full", e.Policy)
}

// Is reports whether target is ErrFull or policy.ErrRejected.
func (e *Error) Is(target error) bool {
	return target == ErrFull || target == policy.ErrRejected
}

// ErrorType returns "bulkhead_full", the error.type of every refusal.
func (e *Error) ErrorType() string { return errorType }
