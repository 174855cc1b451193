package palisadehttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/hedge"
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
			require.NoError(t, err, "an idempotent request failed by a cancellation not its own is sent once more")
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, "ok", string(body))
			require.Equal(t, 2, base.calls)
		})
	}
}

func TestRequestFailedByAnothersCancellationIsSentAgainOnlyOnce(t *testing.T) {
	base := &fakeBase{responses: []func(*http.Request) (*http.Response, error){cancelledBy(hedge.ErrLost)}}
	tr := &palisadehttp.Transport{Base: base, Policy: onceThrough}
	_, err := tr.RoundTrip(newGet(t))
	require.ErrorIs(t, err, hedge.ErrLost)
	require.Equal(t, 2, base.calls)
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
