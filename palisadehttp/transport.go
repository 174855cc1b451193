package palisadehttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/hedge"
)

// ErrBodyNotRewindable is matched by the error of an attempt after the
// first of a request whose body cannot be sent again because the request
// has no GetBody. Such an attempt sends nothing: its error also matches
// policy.ErrRejected, so that a breaker counts it neither way, and is
// wrapped in a *backoff.PermanentError, so that a retry policy ends the
// call at once. The caller of RoundTrip gets the outcome of the attempt that
// was sent. (With palisade's retry it never comes to that: the error of an
// attempt that cannot be repeated is already permanent.) Set Request.GetBody
// (http.NewRequest does for bytes.Buffer, bytes.Reader and strings.Reader
// bodies) to make a request retryable.
var ErrBodyNotRewindable = errors.New("palisadehttp: request body cannot be rewound for a retry: Request.GetBody is nil")

// errNoResponse is the error of a round trip whose policy reported success
// without any attempt returning a response.
var errNoResponse = errors.New("palisadehttp: policy returned no error and no response")

// Transport is an http.RoundTripper that runs every request through a
// policy; see the package documentation for what each attempt does. Its
// zero value sends each request once through http.DefaultTransport. A
// Transport is safe for concurrent use, as its fields must be, and must not
// be changed once in use.
type Transport struct {
	// Base sends each attempt. Nil means http.DefaultTransport.
	Base http.RoundTripper

	// Policy runs each request, typically a *policy.Pipeline. Nil means
	// none: each request goes through Base once, unchanged.
	Policy policy.Policy

	// IsFailure reports whether a response is a failure, to be reported to
	// the policy as a *StatusError. It must not read the body. Nil means
	// DefaultIsFailure: 5xx and 429.
	IsFailure func(*http.Response) bool
}

var _ http.RoundTripper = (*Transport)(nil)

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip sends req through the policy. It returns the successful
// attempt's response when the policy succeeded (a hedge's winner), or the
// last failed response when the policy gave up on it (its body intact), and
// otherwise the policy's error. As every
// RoundTripper, it does not change req, and closes its body, even on errors.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base()
	if t.Policy == nil {
		return base.RoundTrip(req)
	}
	isFailure := t.IsFailure
	if isFailure == nil {
		isFailure = DefaultIsFailure
	}
	rt := &roundTrip{req: req, base: base, isFailure: isFailure}
	ctx := req.Context()
	if policy.ModeOf(t.Policy) == policy.ConcurrentAttempts && !hedgeable(req) {
		// Only a policy that may overlap attempts (a hedge) needs the mark,
		// which costs an allocation.
		ctx = hedge.Disable(ctx) // sent once at a time
	}
	err := t.Policy.Execute(ctx, rt.attempt)
	return rt.finish(err)
}

// hedgeable reports whether req may be sent again while an earlier attempt
// is still in flight: its method is idempotent (GET, HEAD, OPTIONS, PUT,
// DELETE, TRACE) or it carries an Idempotency-Key header, and its body, if
// any, can be made again (Request.GetBody). A hedge policy runs any other
// request once.
func hedgeable(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
	default:
		if req.Header.Get("Idempotency-Key") == "" {
			return false
		}
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// CloseIdleConnections closes the idle connections of Base, if it has such a
// method, as http.Client.CloseIdleConnections expects of a transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// roundTrip is the state of one RoundTrip across the attempts its policy
// makes, one after the other (a retry) or at the same time (a hedge).
//
// The response kept is the first successful one, which is the one whose
// outcome a hedge returns; until there is one, the latest failed one. Every
// other response is closed: a failed attempt's when the next attempt starts
// or answers, a losing hedge's as it arrives, and any response arriving after
// RoundTrip returned (an attempt its policy abandoned) at once, so that no
// connection is left unread.
type roundTrip struct {
	req       *http.Request
	base      http.RoundTripper
	isFailure func(*http.Response) bool

	mu       sync.Mutex
	attempts int
	resp     *http.Response // the response kept, if any
	failure  *StatusError   // resp's error, when resp is a failure
	won      bool           // resp is a success: no other response replaces it
	sealed   bool           // RoundTrip has returned: late responses are closed
	lastErr  error          // the latest sent attempt's error, as the attempt returned it
}

// oneShot reports whether the request's body can be sent only once: it has
// one, and no GetBody to make another.
func (rt *roundTrip) oneShot() bool {
	b := rt.req.Body
	return b != nil && b != http.NoBody && rt.req.GetBody == nil
}

// attempt is the policy.Func of the round trip: one try at sending the
// request.
func (rt *roundTrip) attempt(ctx context.Context) error {
	rt.mu.Lock()
	rt.attempts++
	n := rt.attempts
	rt.mu.Unlock()

	body := rt.req.Body
	if n > 1 {
		var err error
		if body, err = rt.bodyAgain(); err != nil {
			return rt.notSent(err)
		}
	}

	rt.mu.Lock()
	var prev *http.Response
	if !rt.won && !rt.sealed {
		prev = rt.resp
		rt.resp, rt.failure, rt.lastErr = nil, nil, nil
	}
	rt.mu.Unlock()
	if prev != nil {
		prev.Body.Close() // a failed attempt's response: already drained as far as it will be
	}

	err := rt.send(ctx, body)
	if err != nil && rt.oneShot() {
		// No later attempt can send the body again: tell a retry so now,
		// rather than let it wait for an attempt that would send nothing.
		return permanent(err)
	}
	return err
}

// send sends the request once, with body, under the attempt's context ctx,
// and records its outcome.
func (rt *roundTrip) send(ctx context.Context, body io.ReadCloser) error {
	a := newAttemptContext(rt.req.Context(), ctx)
	out := rt.req.Clone(a.ctx)
	out.Body = body
	resp, err := rt.base.RoundTrip(out)
	for resent := 0; err != nil && resent < maxResends && cancelledByAnother(err, a.ctx) && hedgeable(rt.req); resent++ {
		// The request failed with a cancellation that was not its own:
		// net/http gives the connection of a response without a body back
		// to its idle pool before that request's round trip has returned,
		// and when the request is cancelled in that window (a losing hedge
		// is, all the time) the connection is closed under the next request
		// it was given to, which fails with the other request's cause
		// (golang/go#41600 in spirit; still so in Go 1.26). An idempotent
		// request whose body can be made again is sent again.
		body, bodyErr := rt.bodyAgain()
		if bodyErr != nil {
			break
		}
		a.end()
		a = newAttemptContext(rt.req.Context(), ctx)
		out = rt.req.Clone(a.ctx)
		out.Body = body
		resp, err = rt.base.RoundTrip(out)
	}
	if err != nil {
		a.end()
		rt.mu.Lock()
		rt.lastErr = err
		rt.mu.Unlock()
		return classify(err)
	}

	var failure *StatusError
	if rt.isFailure(resp) {
		failure = newStatusError(resp)
		bufferFailed(resp, a) // while the attempt's deadline still applies
	} else {
		a.detach(resp)
	}
	rt.mu.Lock()
	discard := resp // the response this attempt's outcome does not keep
	if !rt.sealed && !rt.won {
		// Kept: the first success, or the latest failure until there is one.
		discard = rt.resp
		rt.resp, rt.failure, rt.won = resp, failure, failure == nil
		if failure != nil {
			rt.lastErr = failure
		}
	}
	rt.mu.Unlock()
	if discard != nil {
		discard.Body.Close()
	}
	if failure != nil {
		return failure
	}
	return nil
}

// maxResends bounds how many times an attempt is sent again after failing
// with another request's cancellation: the race hits about one request in
// a thousand under heavy hedging, so three in a row is out of reach, while
// a Base that returns context.Canceled of its own accord cannot make an
// attempt loop.
const maxResends = 3

// cancelledByAnother reports whether err, the error of a round trip with
// ctx, is a cancellation while ctx was not cancelled: another request's.
func cancelledByAnother(err error, ctx context.Context) bool {
	return ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, hedge.ErrLost))
}

// bodyAgain returns a new copy of the request's body for another send (nil
// or http.NoBody when it has none), or the error of an attempt that cannot
// send it again: ErrBodyNotRewindable without Request.GetBody, or GetBody's
// own error.
func (rt *roundTrip) bodyAgain() (io.ReadCloser, error) {
	b := rt.req.Body
	switch {
	case b == nil || b == http.NoBody:
		return b, nil
	case rt.req.GetBody == nil:
		return nil, ErrBodyNotRewindable
	}
	body, err := rt.req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("palisadehttp: rewinding the request body: %w", err)
	}
	return body, nil
}

// notSent returns the error of an attempt that sent nothing because the
// request's body could not be made again (cause), leaving the outcome of the
// latest attempt that was sent as it is.
func (rt *roundTrip) notSent(cause error) error {
	rt.mu.Lock()
	prev := rt.lastErr
	rt.mu.Unlock()
	return permanent(&notSentError{cause: cause, prev: prev})
}

// finish turns the policy's outcome err into RoundTrip's results.
func (rt *roundTrip) finish(err error) (*http.Response, error) {
	rt.mu.Lock()
	resp, failure, attempts := rt.resp, rt.failure, rt.attempts
	rt.resp, rt.failure, rt.sealed = nil, nil, true
	rt.mu.Unlock()

	if attempts == 0 && rt.req.Body != nil {
		rt.req.Body.Close() // rejected before any attempt: Base never got to close it
	}
	if p, ok := err.(*permanentError); ok {
		err = p.Err // made by an attempt, and returned by a policy that does not unwrap it
	}
	if r, ok := err.(*invalidRequestError); ok {
		err = r.err // the caller gets net/http's own error
	}
	var notSent *notSentError
	errors.As(err, &notSent)
	if resp != nil && (err == nil || wraps(err, failure) || notSent != nil) {
		resp.Request = rt.req
		return resp, nil
	}
	if notSent != nil && notSent.prev != nil {
		err = notSent.prev // the outcome of the attempt that was sent
	}
	if resp != nil {
		resp.Body.Close()
	}
	if err == nil {
		err = errNoResponse
	}
	return nil, err
}

// wraps reports whether err is, or wraps, failure.
func wraps(err error, failure *StatusError) bool {
	if failure == nil {
		return false
	}
	var se *StatusError
	return errors.As(err, &se) && se == failure
}
