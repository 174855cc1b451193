package breaker

import (
	"time"

	"github.com/palisade-go/palisade/policy"
)

// errorType is the error.type of every error a Breaker returns.
const errorType = "circuit_open"

// ErrOpen is matched, with errors.Is, by every error with which a Breaker
// rejects a call: open, half-open with every trial call taken, or isolated.
// It matches [policy.ErrRejected]. Only the rejections of an open breaker
// carry a RetryAfter hint (see [policy.RetryAfter]).
var ErrOpen error = sentinel{}

type sentinel struct{}

func (sentinel) Error() string        { return "palisade/breaker: circuit open" }
func (sentinel) Is(target error) bool { return target == policy.ErrRejected }
func (sentinel) ErrorType() string    { return errorType }

// Error is the error with which a Breaker rejects a call. It matches
// [ErrOpen] and [policy.ErrRejected]; errors.As finds it in every
// rejection. The rejection of an open breaker also carries a RetryAfter
// hint, the rest of the break (see [policy.RetryAfter]): it wraps the
// *Error in a value that has the method. A half-open or isolated breaker's
// rejection has no hint: no break ends at a known time.
//
// A Breaker builds its rejections once (the open one once per break) and
// returns the same pointers to every rejected call, so that rejecting costs
// no allocation: do not modify them.
type Error struct {
	// Policy is the name of the Breaker (Config.Name), which tells apart
	// the breakers of a program: give each its own.
	Policy string
	// State is the state of the breaker that rejected the call: Open,
	// HalfOpen (every trial call taken) or Isolated.
	State State
}

// Error describes the rejection, naming the breaker.
func (e *Error) Error() string {
	switch e.State {
	case HalfOpen:
		return "palisade/breaker: " + e.Policy + ": circuit half-open, every trial call taken"
	case Isolated:
		return "palisade/breaker: " + e.Policy + ": circuit isolated"
	}
	return "palisade/breaker: " + e.Policy + ": circuit open"
}

// Is reports whether target is ErrOpen or policy.ErrRejected.
func (e *Error) Is(target error) bool {
	return target == ErrOpen || target == policy.ErrRejected
}

// ErrorType returns "circuit_open", the error.type of every rejection.
func (e *Error) ErrorType() string { return errorType }

// openError is the rejection of an open breaker: one per break, built when
// the breaker opens, so that rejecting costs no allocation. It adds to the
// breaker's *Error the hint RetryAfter, which policy.RetryAfter finds
// anywhere in an error's chain.
type openError struct {
	err   *Error // the breaker's Open rejection
	b     *Breaker
	until int64 // end of the break, in b's clock
}

func (e *openError) Error() string { return e.err.Error() }

// Is matches without unwrapping, as the *Error does.
func (e *openError) Is(target error) bool { return e.err.Is(target) }

func (e *openError) ErrorType() string { return errorType }

// Unwrap returns the *Error, for errors.As.
func (e *openError) Unwrap() error { return e.err }

// RetryAfter returns how much of the break is left at the time it is
// called: zero once the break is over.
func (e *openError) RetryAfter() time.Duration {
	return time.Duration(max(e.until-e.b.now(), 0))
}
