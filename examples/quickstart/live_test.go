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

	resp, err := http.Get(url + "?format=json")
	require.NoError(t, err)
	var f struct {
		Policies []struct{ Kind, Name string }
	}
	err = json.NewDecoder(resp.Body).Decode(&f)
	resp.Body.Close()
	require.NoError(t, err)
	kinds := map[string]bool{}
	for _, p := range f.Policies {
		if p.Name == "users-api" {
			kinds[p.Kind] = true
		}
	}
	assert.True(t, kinds["pipeline"] && kinds["breaker"] && kinds["bulkhead"], "the view lists the demo's policies: %v", f.Policies)

	require.NoError(t, <-done)
	_, err = http.Get(url)
	assert.Error(t, err, "the view stops with the demo")
}
