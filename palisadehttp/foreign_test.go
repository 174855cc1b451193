package palisadehttp_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/hedge"
	"github.com/palisade-go/palisade/telemetry"
)

// cancelledBy returns a response function failing as net/http fails a
// request whose connection another request's cancellation closed: with that
// request's cause, while the request's own context is live.
func cancelledBy(cause error) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		return nil, &url.Error{Op: "Get", URL: req.URL.String(), Err: cause}
	}
}

var onceThrough = policyFunc(func(ctx context.Context, fn policy.Func) error { return fn(ctx) })

func TestRequestFailedByAnothersCancellationIsSentAgain(t *testing.T) {
	for _, cause := range []error{hedge.ErrLost, context.Canceled} {
		t.Run(cause.Error(), func(t *testing.T) {
			base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){
				cancelledBy(cause),
				respond(http.StatusOK, nil, "ok"),
			}}
			tr := &palisadehttp.Transport{Base: base, Policy: onceThrough}
			req, err := http.NewRequest(http.MethodPut, "http://example.test/", strings.NewReader("payload"))
			require.NoError(t, err)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err, "an idempotent request failed by a cancellation not its own is sent again")
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, "ok", string(body))
			require.Equal(t, 2, base.calls)
		})
	}
}

func TestRequestFailedByAnothersCancellationIsSentAgainAtMostThreeTimes(t *testing.T) {
	base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){cancelledBy(hedge.ErrLost)}}
	tr := &palisadehttp.Transport{Base: base, Policy: onceThrough}
	_, err := tr.RoundTrip(newGet(t))
	require.ErrorIs(t, err, hedge.ErrLost)
	require.Equal(t, 4, base.calls, "sent, then sent again three times")
}

func TestNonIdempotentRequestFailedByAnothersCancellationIsNotSentAgain(t *testing.T) {
	base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){
		cancelledBy(hedge.ErrLost),
		respond(http.StatusOK, nil, "ok"),
	}}
	tr := &palisadehttp.Transport{Base: base, Policy: onceThrough}
	req, err := http.NewRequest(http.MethodPost, "http://example.test/", strings.NewReader("payload"))
	require.NoError(t, err)
	_, err = tr.RoundTrip(req)
	require.ErrorIs(t, err, hedge.ErrLost, "a POST may have been processed: it is not sent again")
	require.Equal(t, 1, base.calls)
}

func TestRequestFailedByItsOwnCancellationIsNotSentAgain(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){
		func(req *http.Request) (*http.Response, error) {
			cancel(hedge.ErrLost)
			return nil, &url.Error{Op: "Get", URL: req.URL.String(), Err: context.Cause(req.Context())}
		},
		respond(http.StatusOK, nil, "ok"),
	}}
	tr := &palisadehttp.Transport{Base: base, Policy: onceThrough}
	req := newGet(t).WithContext(ctx)
	_, err := tr.RoundTrip(req)
	require.True(t, errors.Is(err, hedge.ErrLost), "got %v", err)
	require.Equal(t, 1, base.calls)
}

// TestHedgedBodilessResponsesFailNoOtherRequest drives the race for real:
// hedged GETs of a server answering 204 (no body) at varied speeds, so that
// losers are cancelled all the time while connections go back to the idle
// pool. No request may fail with a loser's cancellation. Bounded: 2 s or
// 40,000 requests.
func TestHedgedBodilessResponsesFailNoOtherRequest(t *testing.T) {
	srv, base := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if rand.IntN(4) == 0 {
			time.Sleep(time.Duration(rand.IntN(400)) * time.Microsecond)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	base.MaxIdleConnsPerHost = 64
	h := hedge.Must(hedge.Config{Delay: 100 * time.Microsecond, MaxHedges: 2, MaxExtraRatio: 1, Telemetry: telemetry.Disabled()})
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: h}}

	var calls, failed atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(2 * time.Second)
	for range 16 {
		wg.Go(func() {
			for time.Now().Before(deadline) && calls.Add(1) <= 40_000 {
				resp, err := client.Get(srv.URL)
				if err != nil {
					if failed.Add(1) <= 5 {
						t.Errorf("a hedged GET failed: %v", err)
					}
					continue
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	t.Logf("%d calls, %d failed", min(calls.Load(), 40_000), failed.Load())
}
