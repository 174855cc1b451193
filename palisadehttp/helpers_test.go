package palisadehttp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy"
)

// newServer starts an httptest server running h and returns it with a
// transport of its own, both closed when the test ends.
func newServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *http.Transport) {
	t.Helper()
	srv := httptest.NewServer(h)
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return srv, tr
}

// policyFunc is a Policy made of a function.
type policyFunc func(ctx context.Context, fn policy.Func) error

func (p policyFunc) Execute(ctx context.Context, fn policy.Func) error { return p(ctx, fn) }

// retryUpTo is a fake retry: it runs fn until it succeeds or has run n
// times, and returns the last error wrapped, as a retry that gave up does.
func retryUpTo(n int) policy.Policy {
	return policyFunc(func(ctx context.Context, fn policy.Func) error {
		var err error
		for range n {
			if err = fn(ctx); err == nil {
				return nil
			}
		}
		return fmt.Errorf("fake retry: gave up: %w", err)
	})
}

// errFakeRejected is the error of rejectAll.
var errFakeRejected = fmt.Errorf("fake breaker: open: %w", policy.ErrRejected)

// rejectAll is a fake open breaker: it never runs fn.
var rejectAll = policyFunc(func(context.Context, policy.Func) error { return errFakeRejected })

// trackedBody records what was done with a response body.
type trackedBody struct {
	io.ReadCloser
	mu     sync.Mutex
	read   int
	eof    bool
	closed bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.mu.Lock()
	b.read += n
	if err == io.EOF {
		b.eof = true
	}
	b.mu.Unlock()
	return n, err
}

func (b *trackedBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.ReadCloser.Close()
}

func (b *trackedBody) state() (read int, eof, closed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read, b.eof, b.closed
}

// tracking is a RoundTripper that tracks the bodies of the responses of
// base, and records the requests it sends.
type tracking struct {
	base   http.RoundTripper
	mu     sync.Mutex
	bodies []*trackedBody
	reqs   []*http.Request
}

func (tr *tracking) RoundTrip(req *http.Request) (*http.Response, error) {
	tr.mu.Lock()
	tr.reqs = append(tr.reqs, req)
	tr.mu.Unlock()
	resp, err := tr.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b := &trackedBody{ReadCloser: resp.Body}
	resp.Body = b
	tr.mu.Lock()
	tr.bodies = append(tr.bodies, b)
	tr.mu.Unlock()
	return resp, nil
}

func (tr *tracking) body(i int) *trackedBody {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.bodies[i]
}

func (tr *tracking) count() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.bodies)
}

// fakeBase is a RoundTripper answering every request with the responses it
// is given in turn, without a network; the last one repeats.
type fakeBase struct {
	mu        sync.Mutex
	responses []func(*http.Request) (*http.Response, error)
	calls     int
}

func (f *fakeBase) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	i := min(f.calls, len(f.responses)-1)
	f.calls++
	f.mu.Unlock()
	if req.Body != nil {
		req.Body.Close()
	}
	return f.responses[i](req)
}

// respond returns a response function giving status with header and body.
func respond(status int, header http.Header, body string) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		if header == nil {
			header = http.Header{}
		}
		return &http.Response{
			StatusCode: status,
			Status:     fmt.Sprintf("%d %s", status, http.StatusText(status)),
			Header:     header,
			Body:       io.NopCloser(strings.NewReader(body)),
			Request:    req,
		}, nil
	}
}

// closeTracker is a request body that records whether it was closed.
type closeTracker struct {
	io.Reader
	mu     sync.Mutex
	closed bool
}

func (c *closeTracker) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *closeTracker) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// newGet returns a GET request to a host no test resolves: the bases under
// test answer it without a network.
func newGet(t testing.TB) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://example.test/", nil)
	require.NoError(t, err)
	return req
}

// swallowErrors is a fallback-like policy: it runs the call once and reports
// success whatever happened.
var swallowErrors = policyFunc(func(ctx context.Context, fn policy.Func) error {
	_ = fn(ctx)
	return nil
})
