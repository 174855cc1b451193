package palisadehttp

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/ratelimit"
)

// Handler returns a handler that serves each request through p, on the
// server side: load shedding with a concurrency limiter, a rate limiter, a
// bulkhead or a throttle.
//
// p runs next with the request's context as p passes it. When p rejects the
// request without running next (its error matches policy.ErrRejected), the
// client gets 503 Service Unavailable — or 429 Too Many Requests when a rate
// limiter refused it (ratelimit.ErrLimited) — with a Retry-After header, in
// whole seconds rounded up, when the rejection carries a hint
// (policy.RetryAfter), and a short plain-text body. Once next has run, the
// response is next's, whatever p returns.
//
// p sees, as the outcome of a request next served, a *[StatusError] for a
// 5xx answer and nil otherwise, so that a limiter, throttle or breaker in p
// learns from the server's own failures. Panics in next go through p (which
// releases what it holds) and on to net/http.
//
// next runs at most once per request: a policy that runs its function
// again (a retry, a hedge) gets an error instead of a second run, as a
// response cannot be written twice.
func Handler(p policy.Policy, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		ran := false
		err := p.Execute(r.Context(), func(ctx context.Context) error {
			if ran {
				return errServedOnce
			}
			ran = true
			req := r
			if ctx != r.Context() {
				req = r.WithContext(ctx)
			}
			next.ServeHTTP(sw, req)
			if sw.status >= 500 {
				return &StatusError{StatusCode: sw.status, Status: strconv.Itoa(sw.status) + " " + http.StatusText(sw.status)}
			}
			return nil
		})
		if ran || err == nil {
			return
		}
		shed(w, err)
	})
}

// errServedOnce is what a policy that runs its function twice gets the
// second time.
var errServedOnce = errors.New("palisadehttp: Handler: the request was already served; a server-side policy must not run its function twice")

// shed answers a request that the policy did not let through.
func shed(w http.ResponseWriter, err error) {
	code := http.StatusServiceUnavailable
	if errors.Is(err, ratelimit.ErrLimited) {
		code = http.StatusTooManyRequests
	}
	if after, ok := policy.RetryAfter(err); ok && after > 0 {
		secs := (after + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(http.StatusText(code) + "\n"))
}

// statusWriter records the status code a handler answers with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush,
// Hijack, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
