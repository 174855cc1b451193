package palisadehttp

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultIsFailure reports whether resp is a failure when Transport.IsFailure
// is nil: a server error (5xx) or 429 Too Many Requests. Other statuses, 4xx
// included, are the server's answer to the request, not a sign that it is
// unwell, and count as successes.
func DefaultIsFailure(resp *http.Response) bool {
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
}

// StatusError is the error with which a [Transport] reports to its policy a
// response that its IsFailure judged a failure. The policy sees it: a retry
// retries it (waiting at least RetryAfter), a breaker counts it. The caller
// of RoundTrip sees the response itself, not this error, when the policy
// gives up on it; it sees a StatusError only inside the error of a policy
// that wraps it and returns something else.
type StatusError struct {
	// StatusCode is the response's status code, such as 503.
	StatusCode int
	// Status is the response's status line, such as "503 Service Unavailable".
	Status string
	// Header is the response's header.
	Header http.Header

	retryAfter time.Duration
	resp       *http.Response // the response, to recognize it when Execute returns
}

// newStatusError returns the StatusError of resp, its Retry-After read now.
func newStatusError(resp *http.Response) *StatusError {
	return &StatusError{
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Header:     resp.Header,
		retryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		resp:       resp,
	}
}

// Error returns "palisadehttp: response status " followed by the status line.
func (e *StatusError) Error() string {
	status := e.Status
	if status == "" {
		status = strconv.Itoa(e.StatusCode)
	}
	return "palisadehttp: response status " + status
}

// RetryAfter returns how long the response asked the client to wait before
// trying again, from its Retry-After header (in seconds, or an HTTP date),
// as read when the response arrived; 0 when it had no valid one.
// policy.RetryAfter finds it, and the retry policy waits at least that long.
func (e *StatusError) RetryAfter() time.Duration { return e.retryAfter }

// ErrorType returns the low-cardinality error.type of the failure: "http_429"
// for 429 Too Many Requests, else the status class: "http_5xx" for any
// server error, "http_4xx" for another client error (should IsFailure count
// one), and so on.
func (e *StatusError) ErrorType() string {
	switch c := e.StatusCode; {
	case c == http.StatusTooManyRequests:
		return "http_429"
	case c >= 100 && c <= 599:
		return "http_" + strconv.Itoa(c/100) + "xx"
	default:
		return "http_status"
	}
}

// ParseRetryAfter returns the wait that the value of a Retry-After header
// asks for, counted from now: a number of seconds, or the time until an HTTP
// date (RFC 9110, section 10.2.3). It returns 0 for an empty or invalid value
// and for a date not after now.
func ParseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if isDigits(value) {
		secs, err := strconv.ParseInt(value, 10, 64)
		if err != nil || secs > math.MaxInt64/int64(time.Second) {
			return time.Duration(math.MaxInt64) // too large for a Duration: forever
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(value)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return d
	}
	return 0
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
