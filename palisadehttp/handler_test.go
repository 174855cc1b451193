package palisadehttp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/limiter"
	"github.com/palisade-go/palisade/policy/ratelimit"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/telemetry"
)

// recordingPolicy runs fn and records its error.
type recordingPolicy struct{ err error }

func (p *recordingPolicy) Execute(ctx context.Context, fn policy.Func) error {
	p.err = fn(ctx)
	return p.err
}

func TestHandlerPassesThrough(t *testing.T) {
	p := &recordingPolicy{}
	h := palisadehttp.Handler(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served", "yes")
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("tea"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusTeapot || rec.Body.String() != "tea" || rec.Header().Get("X-Served") != "yes" || p.err != nil {
		t.Fatalf("code %d body %q err %v", rec.Code, rec.Body, p.err)
	}
}

// TestHandlerReports5xx: the policy sees a 5xx answer as a *StatusError.
func TestHandlerReports5xx(t *testing.T) {
	p := &recordingPolicy{}
	h := palisadehttp.Handler(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	se, ok := errors.AsType[*palisadehttp.StatusError](p.err)
	if rec.Code != http.StatusBadGateway || !ok || se.StatusCode != 502 || telemetry.ErrorType(p.err) != "http_5xx" {
		t.Fatalf("code %d, policy saw %v", rec.Code, p.err)
	}
}

// TestHandlerShedsWith503: a limiter at its limit answers 503 without
// Retry-After (it knows none), and next does not run.
func TestHandlerShedsWith503(t *testing.T) {
	l := limiter.Must(limiter.Config{InitialLimit: 1, Telemetry: telemetry.Disabled()})
	inside := make(chan struct{})
	release := make(chan struct{})
	calls := 0
	h := palisadehttp.Handler(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		close(inside)
		<-release
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	<-inside
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	close(release)
	<-done
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "" || calls != 1 {
		t.Fatalf("code %d, Retry-After %q, next ran %d times", rec.Code, rec.Header().Get("Retry-After"), calls)
	}
}

// TestHandlerShedsWith429: a rate limiter's refusal is 429 with its
// RetryAfter rounded up to whole seconds.
func TestHandlerShedsWith429(t *testing.T) {
	rl := ratelimit.Must(ratelimit.Config{Rate: 0.4, Telemetry: telemetry.Disabled()}) // one per 2.5s
	h := palisadehttp.Handler(rl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "3" {
		t.Fatalf("code %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

// TestHandlerRunsNextOnce: a retry around the handler's function cannot
// serve the request twice.
func TestHandlerRunsNextOnce(t *testing.T) {
	r := retry.Must(retry.Config{MaxAttempts: 3, BackOff: func() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) }, Telemetry: telemetry.Disabled()})
	calls := 0
	h := palisadehttp.Handler(r, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if calls != 1 || rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("next ran %d times, code %d", calls, rec.Code)
	}
}

// A server sheds load with an adaptive concurrency limiter: requests beyond
// the limit get 503 at once, instead of queueing until their clients give
// up.
func ExampleHandler() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello\n"))
	})
	shedder := limiter.Must(limiter.Config{Name: "api", Telemetry: telemetry.Disabled()})
	srv := httptest.NewServer(palisadehttp.Handler(shedder, api))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 200 OK
}
