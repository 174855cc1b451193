// Package palisadehttp runs HTTP requests through palisade policies.
//
// A [Transport] is an http.RoundTripper that sends each request through a
// [policy.Policy] — typically a pipeline such as retry → breaker → timeout →
// bulkhead — so that an ordinary *http.Client gains the policy's protection:
//
//	client := &http.Client{Transport: &palisadehttp.Transport{Policy: pipeline}}
//
// # What a round trip does
//
// RoundTrip calls the policy's Execute with the request's context. Each time
// the policy runs its function — an attempt — the Transport:
//
//  1. clones the request with the attempt's context (Request.Clone), so that
//     the attempt's deadline and cancellation apply to it and its span, if
//     any, is the parent of the spans below;
//  2. for every attempt after the first, gives the clone a fresh body from
//     Request.GetBody (http.NewRequest sets it for bytes.Buffer,
//     bytes.Reader and strings.Reader bodies). A request whose body cannot
//     be sent again (a body and no GetBody) can make one attempt only: the
//     error of that attempt is marked permanent (backoff.Permanent), so that
//     a retry policy ends the call with it at once, and the caller gets the
//     attempt's outcome — its 503 response, say — as if no retry had been
//     asked for. Should a policy run the function again all the same, that
//     attempt sends nothing and fails with an error matching
//     [ErrBodyNotRewindable] and policy.ErrRejected, so that a breaker
//     counts it neither way, and the caller still gets the outcome of the
//     attempt that was sent;
//  3. sends the clone through Base;
//  4. judges the response with IsFailure (by default [DefaultIsFailure]: a
//     5xx or 429 status). A failed response is reported to the policy as a
//     *[StatusError], whose RetryAfter comes from the Retry-After header, so
//     that the retry policy waits as long as the server asked. Up to 64 KiB
//     of its body are read at once, for at most 100 ms and within the
//     attempt's deadline, letting the connection go back to the pool; a
//     larger body, or one that has not ended by then (a server that sent
//     its headers and stalls), is closed, rest unread, when the next attempt
//     starts, closing its connection rather than waiting for it.
//
// When Execute returns:
//
//   - on success, the caller gets the successful attempt's response: with
//     a policy that runs attempts at the same time (a hedge), the first to
//     succeed, the winner; every other response's body is closed, as it
//     arrives, including those arriving after RoundTrip returned (a losing
//     hedge, an attempt an abandoning timeout left running);
//   - when the policy gave up on a failed response — retries exhausted, a
//     retry refused by a retry budget, or no retry in the pipeline — the
//     caller gets that last response, body
//     intact (its first 64 KiB from memory, the rest, if any, from the
//     network), and a nil error, as any http.Client user expects of a 503;
//     the response of every earlier failed attempt has been drained and
//     closed;
//   - otherwise — a rejection (an error matching policy.ErrRejected, such as
//     an open breaker), a timeout, a network error, the caller's
//     cancellation — the caller gets the policy's error, and no response.
//
// # Errors no retry can fix
//
// Some errors of Base come back the same however often the request is
// sent. An attempt marks them permanent (backoff.Permanent), so that a
// retry policy returns them at once, after one attempt; the caller of
// RoundTrip gets the error itself, never the marker:
//
//   - a request that net/http refuses to send as built: an unsupported URL
//     scheme, an invalid header, trailer or method, a URL without a host, a
//     Content-Length that its body does not match. These are the caller's
//     mistakes and say nothing about the dependency: while the policies see
//     them they also match policy.ErrRejected, so that a breaker counts them
//     neither way (one caller's bad request must not open a breaker that
//     other callers share), and their error.type is "invalid_request";
//   - a server certificate that the client does not accept
//     (*tls.CertificateVerificationError, or an x509 error such as
//     x509.UnknownAuthorityError, x509.HostnameError or
//     x509.CertificateInvalidError). The server was reached and answered
//     with a certificate that every attempt will refuse until someone
//     changes it or the client's configuration, so a breaker counts it as a
//     failure, and, open, fails the calls fast rather than handshake again;
//   - "stopped after N redirects", from a Base that follows redirects itself.
//     (Under an http.Client, redirects are followed by the client, each
//     hop one RoundTrip of its own.)
//
// net/http gives the errors of invalid requests no type; they are
// recognized by their messages, as go-retryablehttp and failsafe-go do.
//
// # Deadlines and response bodies
//
// A policy's work on an attempt ends when the attempt returns, which for
// HTTP is when the response headers have arrived: a timeout policy bounds
// the time to the response headers (and to reading a failed response's first
// 64 KiB, 100 ms at most), a bulkhead counts a request as in flight until then, and a breaker
// records the status code. The body of a successful response is read after
// RoundTrip has returned, under the request's own context only, so that the
// end of the attempt (which cancels the attempt's context) does not cut it
// off. Bound the reading of bodies with the request's context, or with
// http.Client.Timeout.
//
// # Tracing
//
// Each attempt's request carries the attempt's context, and so the
// pipeline's span: with an otelhttp transport as Base,
//
//	&palisadehttp.Transport{Base: otelhttp.NewTransport(http.DefaultTransport), Policy: pipeline}
//
// every attempt is an HTTP client span inside the pipeline's span, itself
// inside the caller's.
//
// # Hedging
//
// A hedge policy (package policy/hedge) in the pipeline sends a request
// again while an earlier attempt is still in flight only when that is safe:
// its method is idempotent (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) or it
// carries an Idempotency-Key header, and its body, if any, can be made
// again (Request.GetBody). Any other request is sent once at a time
// (hedge.Disable). The caller gets the winner's response; every other
// response's body is closed.
//
// Cancelling requests, as hedging does all the time, exposes a race in
// net/http: the connection of a response without a body goes back to the
// idle pool before its round trip has returned, and a cancellation in that
// window closes it under the next request given it, which fails with the
// other request's cause (hedge.ErrLost, or context.Canceled) although its
// own context is live. The Transport sends such a request again (up to
// three times) when it is safe to, by the rule above; a plain http.Client
// does not.
//
// # Methods and retries
//
// The Transport retries whatever request its policy retries, POST included:
// send requests that must not be repeated through a Transport whose policy
// does not retry, or make them safe to repeat (an idempotency key). A Retry-After of hours is honoured as such by
// the retry policy unless its MaxDuration ends the call first: set
// retry.Config.MaxDuration to bound how long a request may take in all.
package palisadehttp
