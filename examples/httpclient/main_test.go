package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/telemetry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRunFallsBackToCacheWhileOpen(t *testing.T) {
	cfg := defaultConfig()
	cfg.Pause = 20 * time.Millisecond
	cfg.BreakDuration = 150 * time.Millisecond
	cfg.Backoff = 5 * time.Millisecond
	cfg.Lookups, cfg.DownAfter, cfg.UpAfter = 40, 6, 20
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, cfg, &out))
	t.Log("\n" + out.String())

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	down := indexOf(lines, "-- the users API goes down")
	up := indexOf(lines, "-- the users API is back")
	require.True(t, down > 0 && up > down)

	for _, l := range lines[:down] {
		assert.NotContains(t, l, "error", "while the API is up")
		assert.NotContains(t, l, "cached")
	}
	cachedWhileDown := 0
	for _, l := range lines[down:up] {
		if strings.Contains(l, "(cached answer: the breaker is open)") {
			cachedWhileDown++
			assert.Regexp(t, `user \d: (Ada Lovelace|Grace Hopper|Barbara Liskov) \(cached`, l,
				"the cached answer is the user's last known one")
		}
	}
	assert.Greater(t, cachedWhileDown, 5, "once the breaker opens, lookups are answered from the cache")
	last := lines[len(lines)-1]
	assert.NotContains(t, last, "cached", "after the API is back the breaker closes")
	assert.Contains(t, last, "[breaker closed]")
}

func indexOf(lines []string, s string) int {
	for i, l := range lines {
		if l == s {
			return i
		}
	}
	return -1
}

func TestGetUserFallback(t *testing.T) {
	api := newUsersAPI()
	srv := httptest.NewServer(api)
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	c := NewUserClient(clientConfig{BaseURL: srv.URL, Base: base, BreakDuration: time.Minute,
		Timeout: time.Second, Backoff: time.Millisecond, Telemetry: telemetry.Disabled()})
	ctx := context.Background()

	u, err := c.GetUser(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, User{ID: 2, Name: "Grace Hopper"}, u)

	c.breaker.Isolate() // open, whatever the window says
	u, err = c.GetUser(ctx, 2)
	require.NoError(t, err, "an open breaker is answered from the cache, not with an error")
	assert.Equal(t, User{ID: 2, Name: "Grace Hopper", Cached: true}, u)
	u, err = c.GetUser(ctx, 3)
	require.NoError(t, err)
	assert.Equal(t, User{ID: 3, Name: "Unknown User", Cached: true}, u, "a user never seen gets the placeholder")

	c.breaker.Reset()
	api.down.Store(true)
	_, err = c.GetUser(ctx, 1)
	assert.ErrorContains(t, err, "503", "a failure that is not a rejection is an error")
}

// TestSpansNest checks that palisadehttp composes with otelhttp: a lookup's
// trace holds the caller's span, the pipeline's span inside it, one HTTP
// client span per attempt inside that, and the server's span inside each.
func TestSpansNest(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	prop := propagation.TraceContext{}

	var hits atomic.Int32
	api := newUsersAPI()
	flaky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		api.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(otelhttp.NewHandler(flaky, "users-api-server",
		otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop)))
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	c := NewUserClient(clientConfig{
		BaseURL: srv.URL, Base: base, BreakDuration: time.Minute, Timeout: 5 * time.Second, Backoff: time.Millisecond,
		Telemetry: telemetry.New(telemetry.WithTracerProvider(tp)),
		OtelHTTP:  []otelhttp.Option{otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop)},
	})

	ctx, lookup := tp.Tracer("test").Start(context.Background(), "lookup")
	u, err := c.GetUser(ctx, 1)
	lookup.End()
	require.NoError(t, err)
	assert.Equal(t, "Ada Lovelace", u.Name)
	require.NoError(t, tp.ForceFlush(context.Background()))

	ended := spans.Ended()
	byKind := map[trace.SpanKind][]sdktrace.ReadOnlySpan{}
	var root, pipeline sdktrace.ReadOnlySpan
	for _, s := range ended {
		assert.Equal(t, lookup.SpanContext().TraceID(), s.SpanContext().TraceID(), "one trace: %s", s.Name())
		switch {
		case s.Name() == "lookup":
			root = s
		case s.Name() == "users-api" && s.SpanKind() == trace.SpanKindInternal:
			pipeline = s
		default:
			byKind[s.SpanKind()] = append(byKind[s.SpanKind()], s)
		}
	}
	require.NotNil(t, root)
	require.NotNil(t, pipeline, "the pipeline has its span")
	assert.Equal(t, root.SpanContext().SpanID(), pipeline.Parent().SpanID(), "inside the caller's span")

	clients, servers := byKind[trace.SpanKindClient], byKind[trace.SpanKindServer]
	require.Len(t, clients, 2, "one client span per attempt")
	require.Len(t, servers, 2)
	clientIDs := map[trace.SpanID]bool{}
	for _, cs := range clients {
		assert.Equal(t, pipeline.SpanContext().SpanID(), cs.Parent().SpanID(), "attempts are inside the pipeline's span")
		clientIDs[cs.SpanContext().SpanID()] = true
	}
	for _, ss := range servers {
		assert.True(t, clientIDs[ss.Parent().SpanID()], "each server span is inside its attempt's client span")
	}
	codesSeen := []codes.Code{clients[0].Status().Code, clients[1].Status().Code}
	assert.ElementsMatch(t, []codes.Code{codes.Error, codes.Unset}, codesSeen, "the 503 attempt failed, the retry did not")

	var retried bool
	for _, e := range pipeline.Events() {
		retried = retried || e.Name == "palisade.retry"
	}
	assert.True(t, retried, "the pipeline's span records the retry")
	assert.Equal(t, codes.Unset, pipeline.Status().Code)
}
