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

// openError is the rejection of an open breaker: one per break, built when
// the breaker opens, so that rejecting costs no allocation.
type openError struct {
	b     *Breaker
	until int64 // end of the break, in b's clock
}

func (e *openError) Error() string {
	return "palisade/breaker: " + e.b.name + ": circuit open"
}

func (e *openError) Is(target error) bool {
	return target == ErrOpen || target == policy.ErrRejected
}

func (e *openError) ErrorType() string { return errorType }

// RetryAfter returns how much of the break is left at the time it is
// called: zero once the break is over.
func (e *openError) RetryAfter() time.Duration {
	return time.Duration(max(e.until-e.b.now(), 0))
}

// rejectError is the rejection of a half-open breaker with every trial call
// taken, or of an isolated one: no break ends at a known time, so it has no
// RetryAfter. A breaker builds one of each at construction.
type rejectError struct {
	msg string
}

func (e *rejectError) Error() string { return e.msg }

func (e *rejectError) Is(target error) bool {
	return target == ErrOpen || target == policy.ErrRejected
}

func (e *rejectError) ErrorType() string { return errorType }
