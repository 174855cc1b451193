package palisadehttp_test

// Tests of requests whose body cannot be sent twice.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

// oneShotPost returns a POST to url whose body http.NewRequest cannot
// rewind: it has no GetBody.
func oneShotPost(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, io.NopCloser(strings.NewReader(`{"op":"pay"}`)))
	require.NoError(t, err)
	require.Nil(t, req.GetBody)
	return req
}

// TestOneShotBodyFailureIsCountedOnce: a POST whose body cannot be sent
// again fails with a 503. The retry cannot send it again, so it stops at
// once, without waiting or counting a retry; the breaker records the one
// failure the server gave, not a second one for an attempt that sent
// nothing; and the caller gets the 503 response, body intact.
func TestOneShotBodyFailureIsCountedOnce(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	var retries atomic.Int32
	r := retry.Must(retry.Config{BackOff: noDelay, Telemetry: telemetry.Disabled(),
		OnRetry: func(int, error, time.Duration) { retries.Add(1) }})
	b := breaker.Must(breaker.Config{Telemetry: telemetry.Disabled()})
	p := policy.NewPipeline("pay", r, b).WithTelemetry(telemetry.Disabled())
	tr := &palisadehttp.Transport{Base: base, Policy: p}

	resp, err := tr.RoundTrip(oneShotPost(t, srv.URL))
	require.NoError(t, err, "the request was sent and answered")
	defer resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "down\n", string(body))

	assert.EqualValues(t, 1, hits.Load(), "the server saw one request")
	assert.Zero(t, retries.Load(), "no retry was attempted")
	m := b.Metrics()
	assert.Equal(t, 1, m.Calls, "the breaker recorded one outcome")
	assert.Equal(t, 1, m.Failures, "the breaker recorded one failure")
}

// TestOneShotBodyNetworkErrorIsNotRetried: the network error of a request
// whose body cannot be sent again comes back at once, unchanged.
func TestOneShotBodyNetworkErrorIsNotRetried(t *testing.T) {
	srv, base := newServer(t, func(http.ResponseWriter, *http.Request) {})
	addr := srv.URL
	srv.Close() // nothing listens there now
	var retries atomic.Int32
	r := retry.Must(retry.Config{BackOff: noDelay, Telemetry: telemetry.Disabled(),
		OnRetry: func(int, error, time.Duration) { retries.Add(1) }})
	tr := &palisadehttp.Transport{Base: base, Policy: r}

	resp, err := tr.RoundTrip(oneShotPost(t, addr))
	assert.Nil(t, resp)
	require.Error(t, err)
	var opErr *net.OpError
	assert.ErrorAs(t, err, &opErr, "the network error itself")
	var perm *backoff.PermanentError
	assert.False(t, errors.As(err, &perm), "the retry's marker does not reach the caller")
	assert.Zero(t, retries.Load())
}

// TestOneShotBodyLaterAttemptIsNeutral: a policy that runs the function
// again whatever its error says (not palisade's retry) gets, for the
// attempt that cannot be sent, an error that matches ErrBodyNotRewindable
// and policy.ErrRejected — it says nothing about the dependency — and the
// caller gets the response of the attempt that was sent.
func TestOneShotBodyLaterAttemptIsNeutral(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	tracked := &tracking{base: base}
	var errs []error
	p := policyFunc(func(ctx context.Context, fn policy.Func) error {
		for range 3 {
			errs = append(errs, fn(ctx))
		}
		return errs[len(errs)-1]
	})
	tr := &palisadehttp.Transport{Base: tracked, Policy: p}

	resp, err := tr.RoundTrip(oneShotPost(t, srv.URL))
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "down\n", string(body), "the response of the attempt sent, intact")
	assert.EqualValues(t, 1, hits.Load())
	require.Equal(t, 1, tracked.count())

	require.Len(t, errs, 3)
	var se *palisadehttp.StatusError
	assert.ErrorAs(t, errs[0], &se, "the attempt sent failed with its status")
	for _, e := range errs[1:] {
		assert.ErrorIs(t, e, palisadehttp.ErrBodyNotRewindable)
		assert.ErrorIs(t, e, policy.ErrRejected, "an attempt that sent nothing is no failure of the dependency")
		var perm *backoff.PermanentError
		assert.ErrorAs(t, e, &perm, "nor one to retry")
	}
}

// TestGetBodyErrorLaterAttemptIsNeutral: when GetBody fails, the attempt
// sends nothing, and its error wraps GetBody's.
func TestGetBodyErrorLaterAttemptIsNeutral(t *testing.T) {
	base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){
		respond(http.StatusServiceUnavailable, nil, "down"),
		respond(http.StatusOK, nil, "ok"),
	}}
	errRewind := errors.New("cannot reopen the upload")
	req, err := http.NewRequest(http.MethodPost, "http://example.test/", strings.NewReader("payload"))
	require.NoError(t, err)
	req.GetBody = func() (io.ReadCloser, error) { return nil, errRewind }
	b := breaker.Must(breaker.Config{Telemetry: telemetry.Disabled()})
	r := retry.Must(retry.Config{BackOff: noDelay, Telemetry: telemetry.Disabled()})
	p := policy.NewPipeline("upload", r, b).WithTelemetry(telemetry.Disabled())
	tr := &palisadehttp.Transport{Base: base, Policy: p}

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "the response of the attempt sent")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "down", string(body))
	assert.Equal(t, 1, base.calls)
	assert.Equal(t, 1, b.Metrics().Failures, "one failure, the one sent")
	assert.Equal(t, 1, b.Metrics().Calls)
}

// TestOneShotBodyLaterAttemptAfterNetworkError: a policy that runs the
// function again after a network error gets the neutral error for the
// attempt that cannot be sent; the caller gets the network error of the
// attempt that was.
func TestOneShotBodyLaterAttemptAfterNetworkError(t *testing.T) {
	srv, base := newServer(t, func(http.ResponseWriter, *http.Request) {})
	addr := srv.URL
	srv.Close() // nothing listens there now
	var errs []error
	p := policyFunc(func(ctx context.Context, fn policy.Func) error {
		for range 2 {
			errs = append(errs, fn(ctx))
		}
		return errs[len(errs)-1]
	})
	tr := &palisadehttp.Transport{Base: base, Policy: p}

	resp, err := tr.RoundTrip(oneShotPost(t, addr))
	assert.Nil(t, resp)
	var opErr *net.OpError
	assert.ErrorAs(t, err, &opErr, "the network error of the attempt sent")
	assert.NotErrorIs(t, err, policy.ErrRejected)
	require.Len(t, errs, 2)
	assert.ErrorIs(t, errs[1], palisadehttp.ErrBodyNotRewindable)
	assert.ErrorIs(t, errs[1], policy.ErrRejected)
}
