package palisadehttp_test

// Tests of how long an attempt waits for a failed response's body.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

// pipeBase answers each request with the next of statuses (the last one
// repeats) and a body that the test writes through a pipe, without a
// network. As a network body does, a body ends with its request's context.
type pipeBase struct {
	statuses []int
	mu       sync.Mutex
	writers  []*io.PipeWriter
	bodies   []*trackedBody
}

func (p *pipeBase) RoundTrip(req *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	ctx := req.Context()
	context.AfterFunc(ctx, func() { pw.CloseWithError(context.Cause(ctx)) })
	b := &trackedBody{ReadCloser: pr}
	p.mu.Lock()
	status := p.statuses[min(len(p.writers), len(p.statuses)-1)]
	p.writers = append(p.writers, pw)
	p.bodies = append(p.bodies, b)
	p.mu.Unlock()
	return &http.Response{
		StatusCode: status,
		Status:     http.StatusText(status),
		Header:     http.Header{},
		Body:       b,
		Request:    req,
	}, nil
}

func (p *pipeBase) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.writers)
}

func (p *pipeBase) writer(i int) *io.PipeWriter {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writers[i]
}

func (p *pipeBase) body(i int) *trackedBody {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bodies[i]
}

// TestStalledFailedBodyDoesNotHoldTheAttempt: a 503 whose body never comes
// must not keep its attempt, and the bulkhead slot the attempt holds, until
// the request's deadline. The final response still has its whole body.
func TestStalledFailedBodyDoesNotHoldTheAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &pipeBase{statuses: []int{http.StatusServiceUnavailable}}
		bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, Telemetry: telemetry.Disabled()})
		p := policy.NewPipeline("stall",
			retry.Must(retry.Config{MaxAttempts: 2, BackOff: noDelay, Telemetry: telemetry.Disabled()}),
			bh,
		).WithTelemetry(telemetry.Disabled())
		tr := &palisadehttp.Transport{Base: base, Policy: p}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://example.test/", nil)
		require.NoError(t, err)

		start := time.Now()
		resp, err := tr.RoundTrip(req)
		elapsed := time.Since(start)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Less(t, elapsed, time.Second, "the stalled bodies were not waited for")
		assert.Equal(t, 2*palisadehttp.DrainWait, elapsed, "each attempt waited for its body no longer than the bound")
		assert.Zero(t, bh.InFlight(), "no bulkhead slot is held once RoundTrip returns")
		require.Equal(t, 2, base.count())
		_, _, closed := base.body(0).state()
		assert.True(t, closed, "the retried attempt's stalled body is closed, not waited for")

		// The final body comes late, and whole.
		go func() {
			time.Sleep(5 * time.Second)
			io.WriteString(base.writer(1), "late body")
			base.writer(1).Close()
		}()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "late body", string(b))
	})
}

// TestSlowFailedBodyWithinTheBoundIsBuffered: a failed body that ends
// within the bound is still read to its end and closed before the next
// attempt, so that its connection can serve it, with no wait added.
func TestSlowFailedBodyWithinTheBoundIsBuffered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &pipeBase{statuses: []int{http.StatusServiceUnavailable, http.StatusOK}}
		r := retry.Must(retry.Config{MaxAttempts: 2, BackOff: noDelay, Telemetry: telemetry.Disabled()})
		tr := &palisadehttp.Transport{Base: writeAfter(base, palisadehttp.DrainWait/2, "down"), Policy: r}
		req := newGet(t)

		start := time.Now()
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, palisadehttp.DrainWait/2, time.Since(start), "the failed body was waited for until it ended, no longer")
		read, eof, closed := base.body(0).state()
		assert.Equal(t, len("down"), read)
		assert.True(t, eof && closed, "the failed body was read to its end and closed")
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "down", string(b))
	})
}

// writeAfter returns base as a RoundTripper whose every response body gets
// data, then its end, after delay.
func writeAfter(base *pipeBase, delay time.Duration, data string) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(req)
		w := base.writer(base.count() - 1)
		go func() {
			time.Sleep(delay)
			io.WriteString(w, data)
			w.Close()
		}()
		return resp, err
	})
}

// roundTripperFunc is a RoundTripper made of a function.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestFailedBodyBufferingAddsNoDelay: a failed body already there costs no
// wait at all.
func TestFailedBodyBufferingAddsNoDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){
			respond(http.StatusServiceUnavailable, nil, "down"),
			respond(http.StatusServiceUnavailable, nil, "down"),
			respond(http.StatusOK, nil, "ok"),
		}}
		r := retry.Must(retry.Config{BackOff: noDelay, Telemetry: telemetry.Disabled()})
		tr := &palisadehttp.Transport{Base: base, Policy: r}
		req := newGet(t)

		start := time.Now()
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Zero(t, time.Since(start))
	})
}

// TestStalledFailedBodyOverHTTP is the stalled body over a real connection:
// the server sends 503 headers, flushes, and sends no body.
func TestStalledFailedBodyOverHTTP(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	base := &http.Transport{}
	t.Cleanup(func() {
		close(release)
		base.CloseIdleConnections()
		srv.Close()
	})
	r := retry.Must(retry.Config{MaxAttempts: 2, BackOff: noDelay, Telemetry: telemetry.Disabled()})
	tr := &palisadehttp.Transport{Base: base, Policy: r}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)

	start := time.Now()
	resp, err := tr.RoundTrip(req)
	elapsed := time.Since(start)
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.NoError(t, resp.Body.Close())
	assert.Less(t, elapsed, 5*time.Second, "RoundTrip did not wait for the stalled bodies")
	assert.EqualValues(t, 2, hits.Load())
}
