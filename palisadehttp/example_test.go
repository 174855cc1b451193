package palisadehttp_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
)

// A client whose requests are retried, broken off when the server keeps
// failing, and bounded in time. The server here fails twice, then answers.
func Example() {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "hello")
	}))
	defer srv.Close()

	pipeline := policy.NewPipeline("greeter",
		retry.Must(retry.Config{
			MaxAttempts: 3,
			BackOff:     func() backoff.BackOff { return backoff.NewConstantBackOff(10 * time.Millisecond) },
			// An open breaker is not worth retrying at once.
			ShouldRetry: func(err error) bool { return !errors.Is(err, policy.ErrRejected) },
		}),
		breaker.Must(breaker.Config{ConsecutiveFailures: 5}),
		timeout.Must(timeout.Config{Duration: 2 * time.Second}),
	)
	client := &http.Client{Transport: &palisadehttp.Transport{Policy: pipeline}}
	defer client.CloseIdleConnections()

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.Status, ": ", string(body))
	fmt.Println("attempts:", hits.Load())
	// Output:
	// 200 OK: hello
	// attempts: 3
}

// When the policy gives up on a status code, the caller gets the last
// response, as from any http.Client, with its body.
func Example_exhausted() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "0")
		http.Error(w, "try later", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	r := retry.Must(retry.Config{MaxAttempts: 2, BackOff: func() backoff.BackOff { return &backoff.ZeroBackOff{} }})
	client := &http.Client{Transport: &palisadehttp.Transport{Policy: r}}
	defer client.CloseIdleConnections()

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.Status, ": ", string(body))
	// Output:
	// 503 Service Unavailable: try later
}

// A rejection, here by an open breaker, comes back as an error.
func Example_rejected() {
	b := breaker.Must(breaker.Config{})
	b.Isolate() // as an operator would, to stop all calls
	client := &http.Client{Transport: &palisadehttp.Transport{Policy: b}}

	_, err := client.Get("http://127.0.0.1:1/never-sent")
	fmt.Println(errors.Is(err, breaker.ErrOpen), errors.Is(err, policy.ErrRejected))
	// Output:
	// true true
}
