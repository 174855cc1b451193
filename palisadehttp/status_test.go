package palisadehttp_test

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/palisade-go/palisade/palisadehttp"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second},    // IMF-fixdate
		{"Sunday, 01-Mar-26 12:01:00 GMT", time.Minute},        // RFC 850
		{"Sun Mar  1 12:00:10 2026", 10 * time.Second},         // asctime
		{"Sun, 01 Mar 2026 11:59:00 GMT", 0},                   // in the past
		{"-5", 0},                                              // not a number of seconds
		{"1.5", 0},                                             // neither
		{"soon", 0},                                            // neither
		{"99999999999999999999", time.Duration(math.MaxInt64)}, // overflows: wait forever
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, palisadehttp.ParseRetryAfter(tt.value, now), "Retry-After: %q", tt.value)
	}
}

func TestStatusErrorType(t *testing.T) {
	tests := map[int]string{
		429: "http_429",
		500: "http_5xx",
		503: "http_5xx",
		599: "http_5xx",
		404: "http_4xx",
		302: "http_3xx",
		200: "http_2xx",
		0:   "http_status",
		999: "http_status",
	}
	for code, want := range tests {
		assert.Equal(t, want, (&palisadehttp.StatusError{StatusCode: code}).ErrorType(), "status %d", code)
	}
}

func TestStatusErrorMessage(t *testing.T) {
	assert.Equal(t, "palisadehttp: response status 503 Service Unavailable",
		(&palisadehttp.StatusError{StatusCode: 503, Status: "503 Service Unavailable"}).Error())
	assert.Equal(t, "palisadehttp: response status 502",
		(&palisadehttp.StatusError{StatusCode: 502}).Error())
}

func TestDefaultIsFailure(t *testing.T) {
	for code, want := range map[int]bool{200: false, 204: false, 301: false, 400: false, 404: false, 408: false, 429: true, 500: true, 502: true, 503: true, 504: true} {
		assert.Equal(t, want, palisadehttp.DefaultIsFailure(&http.Response{StatusCode: code}), "status %d", code)
	}
}
