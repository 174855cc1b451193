package palisadehttp_test

// Tests of errors that no retry can fix.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

// countingBase counts the attempts that reach base.
type countingBase struct {
	base http.RoundTripper
	n    atomic.Int32
}

func (c *countingBase) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(req)
}

// unfixablePipeline is retry (3 attempts, no delay) → breaker, with the
// retries it asked for counted.
func unfixablePipeline(retries *atomic.Int32) (*policy.Pipeline, *breaker.Breaker) {
	r := retry.Must(retry.Config{BackOff: noDelay, Telemetry: telemetry.Disabled(),
		OnRetry: func(int, error, time.Duration) { retries.Add(1) }})
	b := breaker.Must(breaker.Config{Telemetry: telemetry.Disabled()})
	return policy.NewPipeline("unfixable", r, b).WithTelemetry(telemetry.Disabled()), b
}

// TestCertificateErrorsAreNotRetried: a server whose certificate the client
// does not accept fails every attempt the same way. One attempt is made;
// the caller gets the TLS error itself; the breaker counts it as the
// dependency's failure.
func TestCertificateErrorsAreNotRetried(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	srv.Config.ErrorLog = discardLog() // the server logs each failed handshake
	t.Cleanup(srv.Close)
	trusting := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	for _, tc := range []struct {
		name   string
		config *tls.Config
		want   any
	}{
		{"unknown authority", &tls.Config{}, &x509.UnknownAuthorityError{}},
		{"wrong host name", &tls.Config{RootCAs: trusting, ServerName: "wrong.example"}, &x509.HostnameError{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := &http.Transport{TLSClientConfig: tc.config}
			t.Cleanup(base.CloseIdleConnections)
			counted := &countingBase{base: base}
			var retries atomic.Int32
			p, b := unfixablePipeline(&retries)
			client := &http.Client{Transport: &palisadehttp.Transport{Base: counted, Policy: p}}

			resp, err := client.Get(srv.URL)
			assert.Nil(t, resp)
			require.Error(t, err)
			var verr *tls.CertificateVerificationError
			assert.ErrorAs(t, err, &verr)
			assert.ErrorAs(t, err, tc.want)
			var perm *backoff.PermanentError
			assert.False(t, errors.As(err, &perm), "the retry's marker does not reach the caller: %v", err)
			assert.NotErrorIs(t, err, policy.ErrRejected)

			assert.EqualValues(t, 1, counted.n.Load(), "one attempt")
			assert.Zero(t, retries.Load(), "no retry")
			assert.Equal(t, 1, b.Metrics().Failures, "the dependency's failure")
		})
	}
	assert.Zero(t, hits.Load())
}

// TestInvalidRequestsAreNotRetried: a request that net/http refuses to send
// (an unsupported scheme, an invalid header) is the caller's mistake: one
// attempt, the caller gets net/http's error, and the breaker counts it
// neither way — one caller's bad request does not open a breaker that
// others share.
func TestInvalidRequestsAreNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		url    string
		header http.Header
		want   string
	}{
		{"unsupported scheme", "ftp://127.0.0.1/file", nil, "unsupported protocol scheme"},
		{"invalid header value", "http://127.0.0.1:1/", http.Header{"X-Bad": {"a\nb"}}, "invalid header field value"},
		{"invalid header name", "http://127.0.0.1:1/", http.Header{"X Bad": {"v"}}, "invalid header field name"},
		{"no host", "http:///path", nil, "no Host in request URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := &http.Transport{}
			t.Cleanup(base.CloseIdleConnections)
			counted := &countingBase{base: base}
			var retries atomic.Int32
			p, b := unfixablePipeline(&retries)
			tr := &palisadehttp.Transport{Base: counted, Policy: p}
			req, err := http.NewRequest(http.MethodGet, tc.url, nil)
			require.NoError(t, err)
			for k, v := range tc.header {
				req.Header[k] = v
			}

			resp, err := tr.RoundTrip(req)
			assert.Nil(t, resp)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotErrorIs(t, err, policy.ErrRejected, "the caller gets net/http's error itself")
			var perm *backoff.PermanentError
			assert.False(t, errors.As(err, &perm))

			assert.EqualValues(t, 1, counted.n.Load(), "one attempt")
			assert.Zero(t, retries.Load(), "no retry")
			m := b.Metrics()
			assert.Zero(t, m.Failures, "not the dependency's failure")
			assert.Zero(t, m.Calls, "nor its success")
		})
	}
}

// TestInvalidRequestReachesPolicyAsRejection: what the policies see of an
// invalid request's error: permanent, matching policy.ErrRejected and the
// original error, with a low-cardinality error.type.
func TestInvalidRequestReachesPolicyAsRejection(t *testing.T) {
	var got error
	p := policyFunc(func(ctx context.Context, fn policy.Func) error {
		got = fn(ctx)
		return got
	})
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	tr := &palisadehttp.Transport{Base: base, Policy: p}
	req, err := http.NewRequest(http.MethodGet, "gopher://127.0.0.1/", nil)
	require.NoError(t, err)

	_, err = tr.RoundTrip(req)
	require.Error(t, err)
	assert.ErrorIs(t, got, policy.ErrRejected)
	var perm *backoff.PermanentError
	assert.ErrorAs(t, got, &perm)
	assert.Equal(t, "invalid_request", telemetry.ErrorType(got))
	assert.Equal(t, got.Error(), err.Error(), "the same message as net/http's error")
	assert.NotErrorIs(t, err, policy.ErrRejected, "the caller gets net/http's error itself")
	assert.False(t, errors.As(err, &perm))
}

// TestRedirectLoopIsNotRetried: a Base that follows redirects itself and
// gives up on a loop fails the same way each time: one attempt.
func TestRedirectLoopIsNotRetried(t *testing.T) {
	loop := &url.Error{Op: "Get", URL: "http://example.test/", Err: errors.New("stopped after 10 redirects")}
	counted := &countingBase{base: roundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, loop })}
	var retries atomic.Int32
	p, _ := unfixablePipeline(&retries)
	tr := &palisadehttp.Transport{Base: counted, Policy: p}

	resp, err := tr.RoundTrip(newGet(t))
	assert.Nil(t, resp)
	assert.Same(t, loop, err, "the error itself")
	assert.EqualValues(t, 1, counted.n.Load())
	assert.Zero(t, retries.Load())
}

// TestTransientErrorsAreStillRetried: a refused connection may be fixed by
// waiting: it is retried as before.
func TestTransientErrorsAreStillRetried(t *testing.T) {
	srv, base := newServer(t, func(http.ResponseWriter, *http.Request) {})
	addr := srv.URL
	srv.Close() // nothing listens there now
	counted := &countingBase{base: base}
	var retries atomic.Int32
	p, b := unfixablePipeline(&retries)
	tr := &palisadehttp.Transport{Base: counted, Policy: p}

	resp, err := tr.RoundTrip(newGetTo(t, addr))
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, retry.ErrExhausted)
	assert.EqualValues(t, 3, counted.n.Load())
	assert.EqualValues(t, 2, retries.Load())
	assert.Equal(t, 3, b.Metrics().Failures)
}

func newGetTo(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	return req
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// TestPermanentMarkerKeepsErrorType: without a retry to unwrap it, the
// permanent marker reaches the pipeline, whose span still reports the
// error.type of the error itself.
func TestPermanentMarkerKeepsErrorType(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = discardLog()
	t.Cleanup(srv.Close)
	h := oteltest.New()
	p := policy.NewPipeline("tls", breaker.Must(breaker.Config{Telemetry: h.Telemetry})).WithTelemetry(h.Telemetry)
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	tr := &palisadehttp.Transport{Base: base, Policy: p}

	_, err := tr.RoundTrip(newGetTo(t, srv.URL))
	var verr *tls.CertificateVerificationError
	require.ErrorAs(t, err, &verr)
	assert.Same(t, verr, err, "the caller gets the TLS error itself")

	ended := h.Spans.Ended()
	require.Len(t, ended, 1)
	assert.Contains(t, ended[0].Attributes(), attribute.String("error.type", telemetry.ErrorType(verr)))
	assert.NotContains(t, telemetry.ErrorType(verr), "backoff")
}
