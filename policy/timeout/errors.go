package timeout

import (
	"context"
	"fmt"
	"time"
)

// ErrTimeout is matched, with errors.Is, by every error a Timeout returns
// because its deadline passed. It also matches context.DeadlineExceeded, and
// is the cause (context.Cause) of the context the function runs with when
// that deadline passes.
var ErrTimeout error = sentinel{}

type sentinel struct{}

func (sentinel) Error() string        { return "palisade/timeout: deadline passed" }
func (sentinel) Is(target error) bool { return target == context.DeadlineExceeded }
func (sentinel) ErrorType() string    { return errorType }
func (sentinel) Timeout() bool        { return true }

const errorType = "timeout"

// Error is the error of a call whose deadline, set by a Timeout, passed.
type Error struct {
	// Policy is the name of the Timeout.
	Policy string
	// Duration is the Timeout's Config.Duration.
	Duration time.Duration
	// Err is the error the function returned, or context.DeadlineExceeded
	// for an abandoned function, which had not returned.
	Err error
	// Abandoned is true when the function was still running at the
	// deadline, and was abandoned (Config.Abandon).
	Abandoned bool
}

// Error describes the timeout and the function's error.
func (e *Error) Error() string {
	if e.Abandoned {
		return fmt.Sprintf("palisade/timeout: %s: call exceeded %v, abandoned", e.Policy, e.Duration)
	}
	return fmt.Sprintf("palisade/timeout: %s: call exceeded %v: %v", e.Policy, e.Duration, e.Err)
}

// Unwrap returns the function's error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is ErrTimeout or context.DeadlineExceeded.
func (e *Error) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// ErrorType returns "timeout", the error.type of every timeout.
func (e *Error) ErrorType() string { return errorType }

// Timeout reports true, as net.Error does for timeouts.
func (e *Error) Timeout() bool { return true }
