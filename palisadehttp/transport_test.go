package palisadehttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
)

// failThenOK answers 503 with body "down" to the first n requests, then 200
// with body "ok".
func failThenOK(n int32, hits *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= n {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}
}

func TestSuccessPassesThrough(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, failThenOK(0, &hits))
	calls := 0
	p := policyFunc(func(ctx context.Context, fn policy.Func) error { calls++; return fn(ctx) })
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: p}}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(body))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, calls)
	assert.EqualValues(t, 1, hits.Load())
}

func TestResponseRequestIsTheCallersRequest(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, failThenOK(1, &hits))
	tr := &palisadehttp.Transport{Base: base, Policy: retryUpTo(3)}
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Same(t, req, resp.Request)
}

func TestRetriedFailureIsDrainedAndClosed(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, failThenOK(2, &hits))
	tracked := &tracking{base: base}
	client := &http.Client{Transport: &palisadehttp.Transport{Base: tracked, Policy: retryUpTo(5)}}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "ok", string(body))
	assert.EqualValues(t, 3, hits.Load())

	require.Equal(t, 3, tracked.count())
	for i := range 2 {
		read, eof, closed := tracked.body(i).state()
		assert.True(t, eof, "failed attempt %d: body drained to its end", i+1)
		assert.Equal(t, len("down\n"), read, "failed attempt %d", i+1)
		assert.True(t, closed, "failed attempt %d: body closed", i+1)
	}
}

func TestExhaustedFailureReturnsFinalResponse(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("X-Attempt", string(rune('0'+n)))
		http.Error(w, "still down", http.StatusBadGateway)
	})
	tracked := &tracking{base: base}
	client := &http.Client{Transport: &palisadehttp.Transport{Base: tracked, Policy: retryUpTo(3)}}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err, "giving up on a status code is not a transport error")
	defer resp.Body.Close()
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.Equal(t, "3", resp.Header.Get("X-Attempt"), "the last attempt's response")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "still down\n", string(body), "the final body is intact")

	require.Equal(t, 3, tracked.count())
	for i := range 2 {
		_, eof, closed := tracked.body(i).state()
		assert.True(t, eof && closed, "earlier attempt %d drained and closed", i+1)
	}
}

func TestLargeFailedBodyIsReturnedWhole(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 10_000) // 160 kB, beyond what is buffered
	var hits atomic.Int32
	srv, base := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, big)
	})
	tracked := &tracking{base: base}
	client := &http.Client{Transport: &palisadehttp.Transport{Base: tracked, Policy: retryUpTo(2)}}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, big, string(body))

	require.Equal(t, 2, tracked.count())
	read, _, closed := tracked.body(0).state()
	assert.True(t, closed, "the first attempt's body is closed")
	assert.LessOrEqual(t, read, 64<<10+1, "and read no further than the bound")
	_, _, closed = tracked.body(1).state()
	assert.True(t, closed, "the caller's Close reaches the final body")
}

func TestRejectionIsAnError(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, failThenOK(0, &hits))
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: rejectAll}}

	resp, err := client.Get(srv.URL)
	require.Error(t, err)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, policy.ErrRejected)
	assert.ErrorIs(t, err, errFakeRejected)
	var uerr *url.Error
	assert.ErrorAs(t, err, &uerr, "http.Client wraps it as any transport error")
	assert.Zero(t, hits.Load(), "a rejected request is not sent")
}

func TestRejectionAfterFailureClosesTheFailure(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, failThenOK(10, &hits))
	tracked := &tracking{base: base}
	// One attempt, then a rejection, as a retry before an opening breaker.
	p := policyFunc(func(ctx context.Context, fn policy.Func) error {
		if err := fn(ctx); err == nil {
			return nil
		}
		return errFakeRejected
	})
	tr := &palisadehttp.Transport{Base: tracked, Policy: p}
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)

	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, policy.ErrRejected)
	require.Equal(t, 1, tracked.count())
	_, _, closed := tracked.body(0).state()
	assert.True(t, closed, "the failed response is not leaked")
}

func TestRejectedRequestBodyIsClosed(t *testing.T) {
	body := &closeTracker{Reader: strings.NewReader("payload")}
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", body)
	require.NoError(t, err)
	tr := &palisadehttp.Transport{Base: &fakeBase{}, Policy: rejectAll}

	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, policy.ErrRejected)
	assert.True(t, body.isClosed(), "a RoundTripper closes the request body, even on errors")
}

func TestFailureReachesPolicyAsStatusError(t *testing.T) {
	base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){
		respond(http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}}, "slow down"),
	}}
	var got error
	p := policyFunc(func(ctx context.Context, fn policy.Func) error {
		got = fn(ctx)
		return got
	})
	tr := &palisadehttp.Transport{Base: base, Policy: p}
	req := newGet(t)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()

	var se *palisadehttp.StatusError
	require.ErrorAs(t, got, &se)
	assert.Equal(t, http.StatusTooManyRequests, se.StatusCode)
	assert.Equal(t, "http_429", se.ErrorType())
	d, ok := policy.RetryAfter(got)
	assert.True(t, ok)
	assert.Equal(t, 7*time.Second, d)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "slow down", string(body))
}

func TestIsFailure(t *testing.T) {
	tests := []struct {
		name      string
		isFailure func(*http.Response) bool
		status    int
		failure   bool
	}{
		{"default 500", nil, 500, true},
		{"default 503", nil, 503, true},
		{"default 429", nil, 429, true},
		{"default 404", nil, 404, false},
		{"default 200", nil, 200, false},
		{"custom 404", func(r *http.Response) bool { return r.StatusCode == 404 }, 404, true},
		{"custom ignores 503", func(r *http.Response) bool { return false }, 503, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){respond(tt.status, nil, "")}}
			var got error
			p := policyFunc(func(ctx context.Context, fn policy.Func) error { got = fn(ctx); return got })
			tr := &palisadehttp.Transport{Base: base, Policy: p, IsFailure: tt.isFailure}
			req := newGet(t)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tt.status, resp.StatusCode)
			if tt.failure {
				var se *palisadehttp.StatusError
				assert.ErrorAs(t, got, &se)
			} else {
				assert.NoError(t, got)
			}
		})
	}
}

func TestRequestBodyIsRewoundForEachAttempt(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []string
	)
	srv, base := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: retryUpTo(3)}}

	resp, err := client.Post(srv.URL, "text/plain", strings.NewReader(`{"name":"ada"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{`{"name":"ada"}`, `{"name":"ada"}`, `{"name":"ada"}`}, bodies)
}

func TestBodyWithoutGetBodyIsNotRetried(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	tr := &palisadehttp.Transport{Base: base, Policy: retryUpTo(3)}
	// An io.Reader http.NewRequest does not know how to rewind.
	req, err := http.NewRequest(http.MethodPost, srv.URL, io.MultiReader(strings.NewReader("once")))
	require.NoError(t, err)
	require.Nil(t, req.GetBody)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err, "the request was sent once and answered")
	defer resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "the answer to the attempt that was sent")
	assert.EqualValues(t, 1, hits.Load(), "no attempt is sent without its body")
}

func TestNilPolicySendsOnce(t *testing.T) {
	var hits atomic.Int32
	srv, base := newServer(t, failThenOK(1, &hits))
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base}}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.EqualValues(t, 1, hits.Load())
}

func TestZeroTransportUsesDefaultTransport(t *testing.T) {
	var hits atomic.Int32
	srv, _ := newServer(t, failThenOK(0, &hits))
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	client := &http.Client{Transport: &palisadehttp.Transport{}}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestAttemptContextReachesTheRequest(t *testing.T) {
	type key struct{}
	var seen []any
	base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){
		func(req *http.Request) (*http.Response, error) {
			seen = append(seen, req.Context().Value(key{}))
			return respond(http.StatusServiceUnavailable, nil, "")(req)
		},
	}}
	p := policyFunc(func(ctx context.Context, fn policy.Func) error {
		fn(context.WithValue(ctx, key{}, "attempt 1"))
		// An attempt with a cancellation of its own, as under a timeout.
		ctx, cancel := context.WithCancel(context.WithValue(ctx, key{}, "attempt 2"))
		defer cancel()
		return fn(ctx)
	})
	tr := &palisadehttp.Transport{Base: base, Policy: p}
	req := newGet(t)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, []any{"attempt 1", "attempt 2"}, seen)
}

func TestAttemptCancellationEndsTheRequest(t *testing.T) {
	release := make(chan struct{})
	srv, base := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	errAttempt := errors.New("attempt's deadline")
	p := policyFunc(func(ctx context.Context, fn policy.Func) error {
		ctx, cancel := context.WithTimeoutCause(ctx, 20*time.Millisecond, errAttempt)
		defer cancel()
		return fn(ctx)
	})
	tr := &palisadehttp.Transport{Base: base, Policy: p}
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)

	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, errAttempt, "the attempt's cause reaches the caller")
}

// streamingServer sends the response headers at once, then its body only
// once proceed is closed.
func streamingServer(t *testing.T, proceed <-chan struct{}) (*httptest.Server, *http.Transport) {
	return newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-proceed:
			io.WriteString(w, "late body")
		case <-r.Context().Done():
		}
	})
}

func TestBodyOutlivesTheAttempt(t *testing.T) {
	proceed := make(chan struct{})
	srv, base := streamingServer(t, proceed)
	// A policy that cancels the attempt's context when the attempt returns,
	// as a timeout does.
	p := policyFunc(func(ctx context.Context, fn policy.Func) error {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return fn(ctx)
	})
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: p}}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	close(proceed) // the body is sent only now, after the attempt ended
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "the end of the attempt does not cut the body off")
	assert.Equal(t, "late body", string(body))
}

func TestCallerCancellationStillEndsTheBody(t *testing.T) {
	proceed := make(chan struct{})
	defer close(proceed)
	srv, base := streamingServer(t, proceed)
	p := policyFunc(func(ctx context.Context, fn policy.Func) error {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return fn(ctx)
	})
	tr := &palisadehttp.Transport{Base: base, Policy: p}
	ctx, cancel := context.WithCancelCause(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	errGone := errors.New("caller went away")
	cancel(errGone)
	_, err = io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, errGone, "the caller's context, and its cause, govern the body")
}

func TestFallbackAcceptingAFailureGetsTheResponse(t *testing.T) {
	base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){
		respond(http.StatusServiceUnavailable, nil, "down"),
	}}
	tr := &palisadehttp.Transport{Base: base, Policy: swallowErrors}
	req := newGet(t)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

func TestPolicySuccessWithoutResponseIsAnError(t *testing.T) {
	errNet := errors.New("connection refused")
	base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){
		func(*http.Request) (*http.Response, error) { return nil, errNet },
	}}
	tr := &palisadehttp.Transport{Base: base, Policy: swallowErrors}
	req := newGet(t)

	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	assert.Error(t, err, "never a nil response with a nil error")
}

func TestNetworkErrorIsAFailure(t *testing.T) {
	srv, base := newServer(t, func(http.ResponseWriter, *http.Request) {})
	addr := srv.URL
	srv.Close() // nothing listens there now
	var got []error
	p := policyFunc(func(ctx context.Context, fn policy.Func) error {
		err := fn(ctx)
		got = append(got, err)
		return err
	})
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: p}}

	resp, err := client.Get(addr)
	assert.Nil(t, resp)
	require.Error(t, err)
	require.Len(t, got, 1)
	assert.Error(t, got[0], "the policy sees the network error")
}

func TestConcurrentRoundTrips(t *testing.T) {
	var seen sync.Map // request body → attempts
	srv, base := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		id, _ := io.ReadAll(r.Body)
		n, _ := seen.LoadOrStore(string(id), new(atomic.Int32))
		if n.(*atomic.Int32).Add(1) == 1 { // every request's first attempt fails
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: retryUpTo(2)}}

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				id := fmt.Sprintf("%d-%d", g, i)
				resp, err := client.Post(srv.URL, "text/plain", strings.NewReader(id))
				if !assert.NoError(t, err) {
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.Equal(t, "ok", string(b))
			}
		})
	}
	wg.Wait()
}

type idleCloser struct {
	fakeBase
	closed bool
}

func (c *idleCloser) CloseIdleConnections() { c.closed = true }

func TestCloseIdleConnectionsReachesBase(t *testing.T) {
	base := &idleCloser{}
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: retryUpTo(1)}}
	client.CloseIdleConnections()
	assert.True(t, base.closed)
}

func TestSwitchingProtocolsBodyIsWritable(t *testing.T) {
	srv, base := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString(line)
		rw.Flush()
	})
	p := policyFunc(func(ctx context.Context, fn policy.Func) error {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return fn(ctx)
	})
	tr := &palisadehttp.Transport{Base: base, Policy: p}
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	rw, ok := resp.Body.(io.ReadWriteCloser)
	require.True(t, ok, "the upgraded connection stays writable")
	_, err = io.WriteString(rw, "ping\n")
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = io.ReadFull(rw, buf)
	require.NoError(t, err)
	assert.Equal(t, "ping\n", string(buf))
}
