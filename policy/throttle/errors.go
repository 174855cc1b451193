package throttle

import (
	"fmt"

	"github.com/palisade-go/palisade/policy"
)

const errorType = "throttled"

// ErrThrottled is matched, with errors.Is, by every error with which a
// Throttle rejects a call. It matches [policy.ErrRejected].
var ErrThrottled error = sentinel{}

type sentinel struct{}

func (sentinel) Error() string        { return "palisade/throttle: call throttled" }
func (sentinel) Is(target error) bool { return target == policy.ErrRejected }
func (sentinel) ErrorType() string    { return errorType }

// Error is the error of a call a Throttle rejected. A Throttle builds it
// once and returns the same pointer to every rejected call, so that
// rejecting costs no allocation: do not modify it.
type Error struct {
	// Policy is the name of the Throttle.
	Policy string
}

// Error describes the rejection.
func (e *Error) Error() string {
	return fmt.Sprintf("palisade/throttle: %s: call throttled, the dependency is refusing work", e.Policy)
}

// Is reports whether target is ErrThrottled or policy.ErrRejected.
func (e *Error) Is(target error) bool { return target == ErrThrottled || target == policy.ErrRejected }

// ErrorType returns "throttled".
func (e *Error) ErrorType() string { return errorType }
