package palisadehttp_test

// Round trips through policies whose attempts overlap (a hedge) or outlive
// the round trip (an abandoning timeout).

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/hedge"
	"github.com/palisade-go/palisade/telemetry"
)

// scriptedBase answers the n-th request (0, 1, …) after delays[n] with
// statuses[n], each body tracked, and each request's Attempt header naming
// it. It ignores the request's context, as a server that already answered
// would.
type scriptedBase struct {
	delays   []time.Duration
	statuses []int
	mu       sync.Mutex
	n        int
	bodies   []*trackedBody
}

func (b *scriptedBase) RoundTrip(req *http.Request) (*http.Response, error) {
	b.mu.Lock()
	n := b.n
	b.n++
	body := &trackedBody{ReadCloser: io.NopCloser(strings.NewReader("attempt body"))}
	b.bodies = append(b.bodies, body)
	b.mu.Unlock()
	time.Sleep(b.delays[n])
	return &http.Response{
		StatusCode: b.statuses[n],
		Header:     http.Header{"Attempt": {string(rune('0' + n))}},
		Body:       body,
		Request:    req,
	}, nil
}

// parallel runs two attempts at once and returns the first success without
// waiting for the other, as a hedge does.
type parallel struct{}

func (parallel) AttemptMode() policy.AttemptMode { return policy.ConcurrentAttempts }

func (parallel) Execute(ctx context.Context, fn policy.Func) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan error, 2)
	for range 2 {
		go func() { results <- fn(ctx) }()
	}
	var err error
	for range 2 {
		if err = <-results; err == nil {
			return nil
		}
	}
	return err
}

func TestHedgedRoundTripReturnsTheWinnerAndClosesTheLoser(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The first request answers after 100ms, the second at once: the
		// second wins; the first answers after RoundTrip returned.
		base := &scriptedBase{delays: []time.Duration{100 * time.Millisecond, time.Millisecond}, statuses: []int{200, 200}}
		tr := &palisadehttp.Transport{Base: base, Policy: parallel{}}
		req, err := http.NewRequest(http.MethodGet, "http://example.test/", nil)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "attempt body", string(data))
		require.NoError(t, resp.Body.Close())

		time.Sleep(time.Second)
		synctest.Wait()
		require.Len(t, base.bodies, 2)
		// Which request the scheduler started first is not fixed: the
		// winner is the one answering at once.
		winner := resp.Header.Get("Attempt")
		for i, b := range base.bodies {
			_, _, closed := b.state()
			assert.True(t, closed, "body %d closed (winner %s)", i, winner)
		}
	})
}

func TestHedgedRoundTripKeepsAFailureOnlyUntilASuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// One attempt fails fast with a 503; the other succeeds later: the
		// caller gets the success, and the 503's body is closed.
		base := &scriptedBase{delays: []time.Duration{time.Millisecond, 50 * time.Millisecond}, statuses: []int{503, 200}}
		tr := &palisadehttp.Transport{Base: base, Policy: parallel{}}
		req, err := http.NewRequest(http.MethodGet, "http://example.test/", nil)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		require.NoError(t, resp.Body.Close())
		synctest.Wait()
		for i, b := range base.bodies {
			_, _, closed := b.state()
			assert.True(t, closed, "body %d", i)
		}
	})
}

// abandoning returns errGaveUp after 10ms, leaving its attempt running.
type abandoning struct{}

var errGaveUp = errors.New("gave up")

func (abandoning) AttemptMode() policy.AttemptMode { return policy.ConcurrentAttempts }

func (abandoning) Execute(ctx context.Context, fn policy.Func) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Millisecond):
		return errGaveUp
	}
}

func TestAbandonedAttemptsResponseIsClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &scriptedBase{delays: []time.Duration{time.Second}, statuses: []int{200}}
		tr := &palisadehttp.Transport{Base: base, Policy: abandoning{}}
		req, err := http.NewRequest(http.MethodGet, "http://example.test/", nil)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		assert.Nil(t, resp)
		assert.ErrorIs(t, err, errGaveUp)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.Len(t, base.bodies, 1)
		_, _, closed := base.bodies[0].state()
		assert.True(t, closed, "a response arriving after RoundTrip returned is closed")
	})
}

// A hedge through the Transport: idempotent requests whose body can be
// sent again are hedged, and the winner's response is returned; any other
// request is sent once.
func TestTransportHedgesOnlyIdempotentReplayableRequests(t *testing.T) {
	for _, tc := range []struct {
		name     string
		method   string
		body     io.Reader
		noRewind bool
		key      bool
		attempts int
	}{
		{name: "GET", method: http.MethodGet, attempts: 2},
		{name: "DELETE", method: http.MethodDelete, attempts: 2},
		{name: "PUT with a replayable body", method: http.MethodPut, body: strings.NewReader("x"), attempts: 2},
		{name: "PUT whose body cannot be replayed", method: http.MethodPut, body: strings.NewReader("x"), noRewind: true, attempts: 1},
		{name: "POST", method: http.MethodPost, body: strings.NewReader("x"), attempts: 1},
		{name: "POST with an Idempotency-Key", method: http.MethodPost, body: strings.NewReader("x"), key: true, attempts: 2},
		{name: "PATCH", method: http.MethodPatch, attempts: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The first request answers after 100ms, a hedge's at once.
				base := &scriptedBase{delays: []time.Duration{100 * time.Millisecond, time.Millisecond}, statuses: []int{200, 200}}
				h := hedge.Must(hedge.Config{Delay: 10 * time.Millisecond, MaxExtraRatio: 1, Telemetry: telemetry.Disabled()})
				tr := &palisadehttp.Transport{Base: base, Policy: h}
				req, err := http.NewRequest(tc.method, "http://example.test/", tc.body)
				require.NoError(t, err)
				if tc.noRewind {
					req.GetBody = nil
				}
				if tc.key {
					req.Header.Set("Idempotency-Key", "k-1")
				}
				resp, err := tr.RoundTrip(req)
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				time.Sleep(time.Second)
				synctest.Wait()
				assert.Len(t, base.bodies, tc.attempts, "requests sent")
				if tc.attempts == 2 {
					assert.Equal(t, "1", resp.Header.Get("Attempt"), "the hedge, answering first, wins")
				}
				for i, b := range base.bodies {
					_, _, closed := b.state()
					assert.True(t, closed, "body %d closed", i)
				}
			})
		})
	}
}

// emptyOKBase answers every request with an empty 200.
type emptyOKBase struct{}

func (emptyOKBase) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

// A request that must not be hedged is marked so only under a policy that
// may overlap attempts: under a sequential one, a POST costs no more than a
// GET.
func TestNotHedgeableCostsNothingUnderSequentialPolicies(t *testing.T) {
	if raceDetector {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	tr := &palisadehttp.Transport{Base: emptyOKBase{}, Policy: policy.NewPipeline("p", passthroughPolicy{}).WithTelemetry(telemetry.Disabled())}
	get, err := http.NewRequest(http.MethodGet, "http://example.test/", nil)
	require.NoError(t, err)
	post, err := http.NewRequest(http.MethodPost, "http://example.test/", nil)
	require.NoError(t, err)
	allocs := func(req *http.Request) float64 {
		return testing.AllocsPerRun(100, func() {
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	assert.Equal(t, allocs(get), allocs(post))
}

// passthroughPolicy runs its function once, and says so.
type passthroughPolicy struct{}

func (passthroughPolicy) Execute(ctx context.Context, fn policy.Func) error { return fn(ctx) }
func (passthroughPolicy) AttemptMode() policy.AttemptMode {
	return policy.SequentialAttempts
}
