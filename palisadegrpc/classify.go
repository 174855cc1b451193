package palisadegrpc

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
)

// PushbackKey is the trailer in which a server tells a client how long to
// wait before retrying, in milliseconds (gRFC A6): a non-negative integer
// is a wait, anything else asks the client not to retry at all.
const PushbackKey = "grpc-retry-pushback-ms"

// Class is what a client interceptor makes of the way a call ended, and
// therefore what its policy is told.
type Class uint8

const (
	// Success: the server answered, and its answer is no sign of trouble
	// (OK, or INVALID_ARGUMENT, NOT_FOUND and the like: the caller's
	// problem, not the server's). The policy sees a success: a breaker
	// counts one, a retry stops. The caller gets the server's status
	// error unchanged.
	Success Class = iota

	// Failure: a sign of trouble that trying again will not cure (by
	// default INTERNAL, UNKNOWN and DATA_LOSS). The policy sees a
	// *StatusError wrapped by backoff.Permanent: a breaker counts a
	// failure, a retry stops at once.
	Failure

	// Retryable: a failure that may pass (by default UNAVAILABLE,
	// RESOURCE_EXHAUSTED, ABORTED, and DEADLINE_EXCEEDED when the deadline
	// was not the caller's). The policy sees a *StatusError, carrying the
	// server's pushback as its RetryAfter: a breaker counts a failure, and
	// a retry may run the call again if the method is idempotent (see
	// [WithIdempotent]); for any other method, or when the server's
	// pushback says not to retry, it is wrapped by backoff.Permanent.
	Retryable

	// Ignored: the outcome says nothing about the server. The call ended
	// because the caller's own context did (its cancellation, or its own
	// deadline), or a classifier said so. The policy sees a *StatusError,
	// wrapped by backoff.Permanent (never retried), for which [IsIgnored]
	// reports true; when a context ended the call, it matches the
	// context's error (context.Canceled or context.DeadlineExceeded) with
	// errors.Is, and a CANCELLED status matches context.Canceled. A
	// breaker ignores the caller's cancellation by itself, and counts
	// another CANCELLED as a success (its default IsFailure spares
	// context.Canceled); give it IsIgnored (breaker.Config.IsIgnored) for
	// it to ignore them all.
	Ignored
)

// String returns "success", "failure", "retryable" or "ignored".
func (c Class) String() string {
	switch c {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Retryable:
		return "retryable"
	case Ignored:
		return "ignored"
	}
	return "Class(" + strconv.Itoa(int(c)) + ")"
}

// DefaultClassifier is the classifier of a client without
// [WithClassifier]. It goes by the status code alone:
//
//   - UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, DEADLINE_EXCEEDED: Retryable.
//     The server is down, overloaded, or too slow, or the operation lost a
//     race that a new attempt may win. (A DEADLINE_EXCEEDED caused by the
//     caller's own deadline never reaches the classifier: it is Ignored.)
//   - INTERNAL, UNKNOWN, DATA_LOSS: Failure, counted but never retried. A
//     server that starts answering these to everyone is unwell — a crashing
//     handler, a broken proxy, a bad deploy, all as an HTTP 500 — so a
//     breaker must see them; but the same request is likely to hit the
//     same bug again, and UNKNOWN is what grpc-go answers for any plain Go
//     error of a handler, which may have done part of its work: retrying
//     would multiply load or repeat side effects.
//   - CANCELLED, when the caller's context is alive (those are Ignored
//     before any classifier is asked): Ignored. The call was cancelled on
//     the way — the client closing its connection, a handler giving up on
//     its own — which says nothing of the server's health.
//   - every other code (OK, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
//     PERMISSION_DENIED, FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED,
//     UNAUTHENTICATED): Success. The server did its job; the request was
//     wrong, and asking again will not change the answer.
func DefaultClassifier(_ string, st *status.Status) Class {
	switch st.Code() {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.DeadlineExceeded:
		return Retryable
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return Failure
	case codes.Canceled:
		return Ignored
	default:
		return Success
	}
}

// StatusError is how a client interceptor reports to its policy a call
// that ended with a status other than OK and that its classifier did not
// call a [Success]. It wraps the call's error as grpc-go returned it.
//
// The caller of the RPC does not see a StatusError when the policy returns
// it as it is: it gets the original status error. It sees one only inside
// the error of a policy that wrapped it, such as retry.ExhaustedError; its
// GRPCStatus method lets status.FromError and status.Code find the
// server's status there too.
type StatusError struct {
	// Class is the outcome's class: Failure, Retryable or Ignored.
	Class Class

	err        error          // the call's error, as the invoker returned it
	st         *status.Status // err's status
	retryAfter time.Duration  // the server's pushback; 0 without one
	ctxErr     error          // the context error an Ignored outcome matches, if any
}

// Error returns the call's error message.
func (e *StatusError) Error() string { return e.err.Error() }

// Unwrap returns the call's error, as grpc-go returned it.
func (e *StatusError) Unwrap() error { return e.err }

// GRPCStatus returns the call's status.
func (e *StatusError) GRPCStatus() *status.Status { return e.st }

// Code returns the call's status code.
func (e *StatusError) Code() codes.Code { return e.st.Code() }

// RetryAfter returns the server's pushback (the grpc-retry-pushback-ms
// trailer) for a Retryable outcome, 0 when it sent none. policy.RetryAfter
// finds it, and the retry policy waits at least that long, or gives up at
// once if it is longer than its MaxRetryAfter. (A pushback asking not to
// retry has no duration: the error is wrapped by backoff.Permanent instead.)
func (e *StatusError) RetryAfter() time.Duration { return e.retryAfter }

// ErrorType returns the status code's canonical name, such as
// "UNAVAILABLE", as OpenTelemetry's RPC conventions use for error.type.
func (e *StatusError) ErrorType() string { return codeName(e.st.Code()) }

// Is reports whether target is the context error of an Ignored outcome
// that ended with a context: context.Canceled for the caller's
// cancellation, context.DeadlineExceeded for its deadline.
func (e *StatusError) Is(target error) bool {
	return e.ctxErr != nil && target == e.ctxErr
}

// IsIgnored reports whether err holds a client interceptor's report of an
// [Ignored] outcome: a call that ended because its caller's context did, or
// that its classifier said to ignore. Give it to a breaker,
//
//	breaker.Config{IsIgnored: palisadegrpc.IsIgnored}
//
// for those calls to count neither as successes nor as failures. (Without
// it a breaker still ignores the caller's cancellation, but counts an
// expired caller deadline as a failure, as it does for any function.)
func IsIgnored(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	return ok && se.Class == Ignored
}

// IsFailure reports whether err, an error from a gRPC call or handler,
// counts as a failure by [DefaultClassifier]'s rules: its status (UNKNOWN
// for an error without one) is a [Failure] or [Retryable] one, and it is
// not context.Canceled. It is meant for breaker.Config.IsFailure where a
// breaker sees status errors as they are, such as one in a server
// interceptor's policy, around handlers that answer NOT_FOUND or
// INVALID_ARGUMENT in the normal course of things:
//
//	breaker.Config{IsFailure: palisadegrpc.IsFailure}
//
// (A client interceptor's policy needs no such thing: it is told of those
// answers as successes.)
func IsFailure(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	switch DefaultClassifier("", status.Convert(err)) {
	case Failure, Retryable:
		return true
	}
	return false
}

// Error is the error a client interceptor returns when its policy ended a
// call with an error of its own rather than a server's status as it came:
//
//   - a policy's error wrapping the server's (retries exhausted, a
//     timeout): GRPCStatus returns the server's status, its message and
//     details intact;
//   - a rejection (an open breaker, a full bulkhead, an exhausted retry
//     budget), or a context's end while the call waited in a policy:
//     GRPCStatus returns a status of code Code with the policy's message.
//
// So status.Code(err) and status.Convert(err) work as for any RPC error,
// while errors.Is(err, retry.ErrExhausted), errors.Is(err, breaker.ErrOpen),
// policy.RetryAfter(err) and the like still see the policy's error.
type Error struct {
	// Err is the policy's error.
	Err error
	// Code is the status code the error stands for: the server's, when Err
	// wraps it; else CANCELLED or DEADLINE_EXCEEDED when a context ended,
	// UNAVAILABLE for an open breaker (breaker.ErrOpen), RESOURCE_EXHAUSTED
	// for any other rejection (policy.ErrRejected), UNKNOWN for anything
	// else.
	Code codes.Code

	status *status.Status // the server's, when Err wraps it
}

// newError returns the Error of a policy's error err.
func newError(err error) *Error {
	code := codes.Unknown
	switch {
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, breaker.ErrOpen):
		code = codes.Unavailable
	case errors.Is(err, policy.ErrRejected):
		code = codes.ResourceExhausted
	}
	return &Error{Err: err, Code: code}
}

// Error returns the policy's error message.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the policy's error.
func (e *Error) Unwrap() error { return e.Err }

// GRPCStatus returns the server's status when Err wraps one, else a status
// of code e.Code with the policy's error message.
func (e *Error) GRPCStatus() *status.Status {
	if e.status != nil {
		return e.status
	}
	return status.New(e.Code, e.Err.Error())
}

// parsePushback reads the pushback trailer values vs (gRFC A6, as grpc-go
// reads them): one non-negative integer is a wait in milliseconds; several
// values, a negative or a malformed one (an integer too large for 64 bits
// included) ask not to retry (retry false). No value at all gives
// (0, true, false). A wait too long for a time.Duration is the longest one.
func parsePushback(vs []string) (d time.Duration, retry, present bool) {
	switch len(vs) {
	case 0:
		return 0, true, false
	case 1:
	default:
		return 0, false, true
	}
	ms, err := strconv.ParseInt(vs[0], 10, 64)
	switch {
	case err != nil || ms < 0:
		return 0, false, true
	case ms > math.MaxInt64/int64(time.Millisecond):
		return time.Duration(math.MaxInt64), true, true
	}
	return time.Duration(ms) * time.Millisecond, true, true
}

// pushbackMD returns the trailer metadata of a pushback of d, rounded up to
// a whole millisecond and capped at math.MaxInt32 ms (24 days), so that no
// client's arithmetic overflows.
func pushbackMD(d time.Duration) metadata.MD {
	ms := int64(math.MaxInt32)
	if d < time.Duration(math.MaxInt32)*time.Millisecond {
		ms = int64((max(d, 0) + time.Millisecond - 1) / time.Millisecond)
	}
	return metadata.Pairs(PushbackKey, strconv.FormatInt(ms, 10))
}

// permanent wraps err so that a retry policy ends the call with it at once.
func permanent(err error) error { return backoff.Permanent(err) }

var codeNames = [...]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELLED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}

// codeName returns the canonical name of c (gRPC's status code names, as
// OpenTelemetry's RPC conventions use them), "UNKNOWN_CODE" for a code
// outside the 17 defined ones, so that error.type stays low-cardinality.
func codeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "UNKNOWN_CODE"
}
