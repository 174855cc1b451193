package palisadehttp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"

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

// permanent returns err marked as one no retry can fix.
func permanent(err error) error {
	if _, ok := err.(*permanentError); ok {
		return err
	}
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

// classify returns the error with which an attempt reports err, an error of
// Base: err itself, or err marked permanent when no retry can fix it — a
// request that net/http refuses to send, wrapped in an *invalidRequestError
// as well, or a certificate that the client does not accept.
func classify(err error) error {
	switch {
	case isInvalidRequest(err):
		return permanent(&invalidRequestError{err: err})
	case isCertificateError(err), isRedirectLoop(err):
		return permanent(err)
	}
	return err
}

// invalidRequestMessages are net/http's messages for a request that it
// refuses to send, or cannot write, as built: its URL, method, header or
// length. net/http gives these errors no type of their own, so that, as
// go-retryablehttp and failsafe-go do, they are recognized by their
// messages.
var invalidRequestMessages = []string{
	"unsupported protocol scheme",
	"net/http: invalid header ",
	"net/http: invalid trailer ",
	"net/http: invalid method ",
	"http: nil Request.URL",
	"http: nil Request.Header",
	"http: no Host in request URL",
	"http: invalid Host header",
	"net/http: can't write control character in Request.URL",
	"http: Request.ContentLength=",
	"http: ContentLength=",
}

func isInvalidRequest(err error) bool {
	msg := err.Error()
	for _, m := range invalidRequestMessages {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// isCertificateError reports whether err is the client's refusal of the
// server's certificate.
func isCertificateError(err error) bool {
	var (
		verification *tls.CertificateVerificationError
		authority    x509.UnknownAuthorityError
		invalid      x509.CertificateInvalidError
		hostname     x509.HostnameError
		roots        x509.SystemRootsError
		constraint   x509.ConstraintViolationError
		extension    x509.UnhandledCriticalExtension
		algorithm    x509.InsecureAlgorithmError
	)
	return errors.As(err, &verification) || errors.As(err, &authority) ||
		errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &roots) || errors.As(err, &constraint) ||
		errors.As(err, &extension) || errors.As(err, &algorithm)
}

// isRedirectLoop reports whether err is http.Client's refusal to follow
// more redirects, for a Base that follows them itself (an http.Client's
// own Transport never sees redirects: the client follows them, each hop a
// round trip of its own).
func isRedirectLoop(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "stopped after ") && strings.HasSuffix(msg, " redirects")
}

// invalidRequestError is the error of an attempt whose request net/http
// refused to send as built (an unsupported URL scheme, an invalid header,
// method or host): the caller's mistake, which no retry can fix and which
// says nothing about the dependency. It matches policy.ErrRejected, so that
// a breaker counts it neither way; RoundTrip returns err itself.
type invalidRequestError struct{ err error }

func (e *invalidRequestError) Error() string { return e.err.Error() }

func (e *invalidRequestError) Unwrap() error { return e.err }

// Is reports whether target is policy.ErrRejected: the request never
// reached the dependency.
func (e *invalidRequestError) Is(target error) bool { return target == policy.ErrRejected }

// ErrorType returns "invalid_request".
func (e *invalidRequestError) ErrorType() string { return "invalid_request" }
