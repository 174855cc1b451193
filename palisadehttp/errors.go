package palisadehttp

import (
	"github.com/cenkalti/backoff/v4"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/telemetry"
)

// permanentError is an attempt's error that no retry can fix, wrapped in a
// *backoff.PermanentError so that a retry policy returns Err at once,
// unwrapped. It keeps Err's error.type for the policies around it that
// report the error as it is (the pipeline's span and histogram when there
// is no retry to unwrap it), and RoundTrip unwraps it.
type permanentError struct {
	*backoff.PermanentError
}

func permanent(err error) error {
	return &permanentError{PermanentError: &backoff.PermanentError{Err: err}}
}

// Unwrap returns the *backoff.PermanentError, for the retry policy to find.
func (e *permanentError) Unwrap() error { return e.PermanentError }

// ErrorType returns the error.type of the error no retry can fix.
func (e *permanentError) ErrorType() string { return telemetry.ErrorType(e.Err) }

// notSentError is the error of an attempt that sent nothing because the
// request's body could not be sent again. It matches its cause
// (ErrBodyNotRewindable, or GetBody's error), the error of the latest
// attempt that was sent, if any, and policy.ErrRejected: it says nothing
// about the dependency, and a breaker counts it neither way.
type notSentError struct {
	cause error // ErrBodyNotRewindable or GetBody's error, wrapped
	prev  error // the latest sent attempt's error; nil if none
}

func (e *notSentError) Error() string {
	if e.prev == nil {
		return e.cause.Error()
	}
	return e.cause.Error() + " (the attempt before: " + e.prev.Error() + ")"
}

func (e *notSentError) Unwrap() []error {
	if e.prev == nil {
		return []error{e.cause}
	}
	return []error{e.cause, e.prev}
}

// Is reports whether target is policy.ErrRejected: the attempt never
// reached the dependency.
func (e *notSentError) Is(target error) bool { return target == policy.ErrRejected }

// ErrorType returns "body_not_rewindable".
func (e *notSentError) ErrorType() string { return "body_not_rewindable" }
