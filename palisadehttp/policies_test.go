package palisadehttp_test

// Tests with palisade's own policies.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

func noDelay() backoff.BackOff { return &backoff.ZeroBackOff{} }

func TestRetryWaitsRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){
			respond(http.StatusServiceUnavailable, http.Header{"Retry-After": {"2"}}, "busy"),
			respond(http.StatusOK, nil, "ok"),
		}}
		// Hints above MaxRetryAfter (1s by default) are not waited for.
		r := retry.Must(retry.Config{BackOff: noDelay, MaxRetryAfter: 2 * time.Minute, Telemetry: telemetry.Disabled()})
		tr := &palisadehttp.Transport{Base: base, Policy: r}
		req := newGet(t)

		start := time.Now()
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, 2*time.Second, time.Since(start), "the retry waited as long as the server asked")
	})
}

func TestRetryWaitsRetryAfterDate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
		base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){
			respond(http.StatusTooManyRequests, http.Header{"Retry-After": {at}}, ""),
			respond(http.StatusOK, nil, "ok"),
		}}
		// Hints above MaxRetryAfter (1s by default) are not waited for.
		r := retry.Must(retry.Config{BackOff: noDelay, MaxRetryAfter: 2 * time.Minute, Telemetry: telemetry.Disabled()})
		tr := &palisadehttp.Transport{Base: base, Policy: r}
		req := newGet(t)

		start := time.Now()
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		// synctest's clock starts at midnight: the HTTP date's whole seconds
		// are exact.
		assert.Equal(t, 90*time.Second, time.Since(start))
	})
}

func TestRetryExhaustedOnStatusReturnsResponse(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, failThenOK(100, &hits))
	var attempts []int
	inner := &attemptRecorder{base: base, attempts: &attempts}
	r := retry.Must(retry.Config{MaxAttempts: 4, BackOff: noDelay, Telemetry: telemetry.Disabled()})
	client := &http.Client{Transport: &palisadehttp.Transport{Base: inner, Policy: r}}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "down\n", string(b))
	assert.EqualValues(t, 4, hits.Load())
	assert.Equal(t, []int{1, 2, 3, 4}, attempts, "retry.Attempt reaches the transport below")
}

// attemptRecorder records retry.Attempt of each request it sends.
type attemptRecorder struct {
	base     http.RoundTripper
	attempts *[]int
}

func (a *attemptRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	*a.attempts = append(*a.attempts, retry.Attempt(req.Context()))
	return a.base.RoundTrip(req)
}

func TestTimeoutBoundsEachAttempt(t *testing.T) {
	release := make(chan struct{})
	srv, base := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	to := timeout.Must(timeout.Config{Duration: 20 * time.Millisecond, Telemetry: telemetry.Disabled()})
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: to}}

	resp, err := client.Get(srv.URL)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, timeout.ErrTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, policy.ErrRejected)
}

func TestTimeoutDoesNotCutSuccessfulBody(t *testing.T) {
	proceed := make(chan struct{})
	srv, base := streamingServer(t, proceed)
	to := timeout.Must(timeout.Config{Duration: 5 * time.Second, Telemetry: telemetry.Disabled()})
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: to}}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	close(proceed)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "late body", string(b))
}

func TestBreakerOpensOnServerErrors(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, failThenOK(100, &hits))
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 3, BreakDuration: time.Minute, Telemetry: telemetry.Disabled()})
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: b}}

	for range 3 {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	}
	assert.Equal(t, breaker.Open, b.State(), "three 503s in a row open it")

	resp, err := client.Get(srv.URL)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, breaker.ErrOpen)
	assert.ErrorIs(t, err, policy.ErrRejected)
	d, ok := policy.RetryAfter(err)
	assert.True(t, ok)
	assert.Positive(t, d)
	assert.EqualValues(t, 3, hits.Load(), "the rejected request was not sent")
}

func TestBreakerIgnoresClientErrors(t *testing.T) {
	srv, base := newServer(t, http.NotFound)
	b := breaker.Must(breaker.Config{ConsecutiveFailures: 1, Telemetry: telemetry.Disabled()})
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: b}}

	for range 5 {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	}
	assert.Equal(t, breaker.Closed, b.State(), "a 404 is an answer, not a failure")
}

// TestPipelineTelemetry runs the full pipeline over HTTP and checks what the
// telemetry says of a request retried into success and of a rejection.
func TestPipelineTelemetry(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, failThenOK(2, &hits))
	h := oteltest.New()
	tel := h.Telemetry

	br := breaker.Must(breaker.Config{Name: "api", ConsecutiveFailures: 3, BreakDuration: time.Minute, Telemetry: tel})
	p := policy.NewPipeline("api-client",
		retry.Must(retry.Config{Name: "api", BackOff: noDelay, Telemetry: tel,
			ShouldRetry: func(err error) bool { return !errors.Is(err, policy.ErrRejected) }}),
		br,
		timeout.Must(timeout.Config{Name: "api", Duration: 5 * time.Second, Telemetry: tel}),
		bulkhead.Must(bulkhead.Config{Name: "api", MaxConcurrent: 4, Telemetry: tel}),
	).WithTelemetry(tel)
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: p}}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	br.Isolate()
	_, err = client.Get(srv.URL)
	require.ErrorIs(t, err, breaker.ErrOpen)

	ended := h.Spans.Ended()
	require.Len(t, ended, 2)
	ok, rejected := ended[0], ended[1]
	assert.Equal(t, codes.Unset, ok.Status().Code)
	var retryEvents int
	for _, e := range ok.Events() {
		if e.Name == "palisade.retry" {
			retryEvents++
			assert.Contains(t, e.Attributes, attribute.String("error.type", "http_5xx"), "the retried attempts failed with a 5xx")
		}
	}
	assert.Equal(t, 2, retryEvents)
	assert.Equal(t, codes.Error, rejected.Status().Code)
	var sawRejected bool
	for _, e := range rejected.Events() {
		sawRejected = sawRejected || e.Name == "palisade.rejected"
	}
	assert.True(t, sawRejected)

	retries := h.Total(t, "palisade.retry.retries")
	assert.EqualValues(t, 2, retries)
	assert.EqualValues(t, 1, h.Total(t, "palisade.rejected_calls"))
}

func TestRetryBudgetRefusalReturnsTheResponse(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, failThenOK(100, &hits))
	r := retry.Must(retry.Config{BackOff: noDelay, Telemetry: telemetry.Disabled(),
		Budget: budget.Must(budget.Config{})}) // no retries at all
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: r}}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err, "the request was sent and answered: a refused retry ends it as an exhausted one")
	defer resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.EqualValues(t, 1, hits.Load())
}
