package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncWriter is the demo's output, read while the demo writes it.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestServeShowsTheLiveView(t *testing.T) {
	cfg := shortConfig()
	cfg.Serve = "127.0.0.1:0"
	var out syncWriter
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), cfg, &out) }()

	var url string
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`Live view: (http://\S+)`).FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, 5*time.Second, 10*time.Millisecond, "the demo prints the live view's address")

	// The demo serves the view before it builds its pipeline: the policies
	// appear as they are built.
	var policies []struct{ Kind, Name string }
	assert.Eventually(t, func() bool {
		resp, err := http.Get(url + "?format=json")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var f struct {
			Policies []struct{ Kind, Name string }
		}
		if json.NewDecoder(resp.Body).Decode(&f) != nil {
			return false
		}
		policies = f.Policies
		kinds := map[string]bool{}
		for _, p := range f.Policies {
			if p.Name == "users-api" {
				kinds[p.Kind] = true
			}
		}
		return kinds["pipeline"] && kinds["breaker"] && kinds["bulkhead"]
	}, 3*time.Second, 20*time.Millisecond, "the view lists the demo's policies")
	if t.Failed() {
		t.Logf("policies listed: %v", policies)
	}

	require.NoError(t, <-done)
	_, err := http.Get(url)
	assert.Error(t, err, "the view stops with the demo")
}
