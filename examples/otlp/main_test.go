package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// receiver is a loopback OTLP/HTTP receiver keeping what it is sent.
type receiver struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	metrics  []*metricpb.Metric
	paths    map[string]http.Header // the header of the last request to each path
	services map[string]bool        // the service.name of every resource received
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	if rc.paths == nil {
		rc.paths, rc.services = map[string]http.Header{}, map[string]bool{}
	}
	rc.paths[r.URL.Path] = r.Header.Clone()
	rc.mu.Unlock()
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer gz.Close()
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want a protobuf body", http.StatusBadRequest)
		return
	}
	var resp proto.Message
	switch {
	case strings.HasSuffix(r.URL.Path, "/traces"):
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			rc.services[attr(rs.GetResource().GetAttributes(), "service.name")] = true
			for _, ss := range rs.GetScopeSpans() {
				rc.spans = append(rc.spans, ss.GetSpans()...)
			}
		}
		rc.mu.Unlock()
		resp = &coltracepb.ExportTraceServiceResponse{}
	case strings.HasSuffix(r.URL.Path, "/metrics"):
		var req colmetricpb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(raw, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rm := range req.GetResourceMetrics() {
			rc.services[attr(rm.GetResource().GetAttributes(), "service.name")] = true
			for _, sm := range rm.GetScopeMetrics() {
				rc.metrics = append(rc.metrics, sm.GetMetrics()...)
			}
		}
		rc.mu.Unlock()
		resp = &colmetricpb.ExportMetricsServiceResponse{}
	default:
		http.NotFound(w, r)
		return
	}
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func attr(attrs []*commonpb.KeyValue, key string) string {
	for _, kv := range attrs {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// clearOTelEnv unsets, for the test, the OTEL_* variables the example
// reads, so that the machine's own do not change what the test sees.
func clearOTelEnv(t *testing.T) {
	for _, v := range []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
	} {
		t.Setenv(v, "")
	}
}

func TestExportReachesOTLPReceiver(t *testing.T) {
	clearOTelEnv(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	cfg := defaultConfig()
	cfg.Endpoint = srv.URL
	cfg.Pause = time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, cfg, &out))
	t.Log("\n" + out.String())
	assert.Contains(t, out.String(), "rejected: ")

	rc.mu.Lock()
	defer rc.mu.Unlock()

	// Every call is a span named after the pipeline; a rejected one has
	// status Error and a palisade.rejected event naming the breaker.
	require.Len(t, rc.spans, cfg.Calls)
	var rejected, retried int
	for _, s := range rc.spans {
		assert.Equal(t, "payments", s.GetName())
		for _, e := range s.GetEvents() {
			switch e.GetName() {
			case "palisade.rejected":
				rejected++
				assert.Equal(t, tracepb.Status_STATUS_CODE_ERROR, s.GetStatus().GetCode())
				assert.Contains(t, s.GetStatus().GetMessage(), "circuit open")
				assert.Equal(t, "breaker", attr(e.GetAttributes(), "palisade.policy.type"))
				assert.Equal(t, "payments", attr(e.GetAttributes(), "palisade.policy.name"))
				assert.Equal(t, "circuit_open", attr(e.GetAttributes(), "error.type"))
				assert.Equal(t, "circuit_open", attr(s.GetAttributes(), "error.type"))
			case "palisade.retry":
				retried++
			}
		}
	}
	assert.GreaterOrEqual(t, rejected, cfg.Calls-cfg.FailFrom-2, "the calls after the breaker opened")
	assert.GreaterOrEqual(t, retried, 1)

	// The breaker's metrics: its status (open, at the last export), its
	// transition, and its rejections.
	byName := map[string]*metricpb.Metric{}
	for _, m := range rc.metrics {
		byName[m.GetName()] = m // the last export's wins
	}
	status := byName["palisade.breaker.status"]
	require.NotNil(t, status, "palisade.breaker.status arrives")
	var openValue int64 = -1
	for _, dp := range status.GetSum().GetDataPoints() {
		if attr(dp.GetAttributes(), "palisade.breaker.state") == "open" {
			openValue = dp.GetAsInt()
		}
	}
	assert.EqualValues(t, 1, openValue, "the breaker is open")

	transitions := byName["palisade.breaker.transitions"]
	require.NotNil(t, transitions, "palisade.breaker.transitions arrives")
	// Every transition the breaker can make is exported from the start, at 0
	// until it happens, so that a backend's rate() sees the first one.
	counted := map[string]int64{}
	for _, dp := range transitions.GetSum().GetDataPoints() {
		counted[attr(dp.GetAttributes(), "palisade.breaker.previous_state")+"->"+attr(dp.GetAttributes(), "palisade.breaker.state")] = dp.GetAsInt()
	}
	assert.Len(t, counted, 9)
	for tr, n := range counted {
		want := int64(0)
		if tr == "closed->open" {
			want = 1
		}
		assert.Equal(t, want, n, tr)
	}

	rejections := byName["palisade.rejected_calls"]
	require.NotNil(t, rejections)
	var total int64
	for _, dp := range rejections.GetSum().GetDataPoints() {
		total += dp.GetAsInt()
	}
	assert.EqualValues(t, rejected, total, "each rejection counted once, as in the traces")
	assert.Contains(t, byName, "palisade.pipeline.duration")
	assert.Contains(t, byName, "palisade.breaker.failure_ratio")
	assert.Equal(t, map[string]bool{"checkout": true}, rc.services, "the example's service name")
}

// runAgainst runs a short example with cfg.Endpoint set to endpoint.
func runAgainst(t *testing.T, endpoint string) string {
	t.Helper()
	cfg := defaultConfig()
	cfg.Endpoint = endpoint
	cfg.Calls, cfg.Pause = 5, time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, cfg, &out))
	return out.String()
}

// TestEnvironmentConfiguresExport: without -endpoint, the exporters and
// the SDK follow the standard OTEL_* variables, as any OpenTelemetry
// program does.
func TestEnvironmentConfiguresExport(t *testing.T) {
	clearOTelEnv(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL+"/otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
	t.Setenv("OTEL_SERVICE_NAME", "checkout-eu")

	out := runAgainst(t, "")
	assert.Contains(t, out, "OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL+"/otlp")

	rc.mu.Lock()
	defer rc.mu.Unlock()
	assert.NotEmpty(t, rc.spans)
	assert.NotEmpty(t, rc.metrics)
	for _, path := range []string{"/otlp/v1/traces", "/otlp/v1/metrics"} {
		require.Contains(t, rc.paths, path, "the base URL of OTEL_EXPORTER_OTLP_ENDPOINT, the signal's path added")
		assert.Equal(t, "acme", rc.paths[path].Get("X-Tenant"), "OTEL_EXPORTER_OTLP_HEADERS")
	}
	assert.Equal(t, map[string]bool{"checkout-eu": true}, rc.services, "OTEL_SERVICE_NAME")
}

// TestPerSignalEnvironmentEndpoints: the per-signal variables are used as
// they are.
func TestPerSignalEnvironmentEndpoints(t *testing.T) {
	clearOTelEnv(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", srv.URL+"/collector/traces")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", srv.URL+"/collector/metrics")

	runAgainst(t, "")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	assert.Contains(t, rc.paths, "/collector/traces")
	assert.Contains(t, rc.paths, "/collector/metrics")
	assert.NotEmpty(t, rc.spans)
}

// TestEndpointFlagOverridesEnvironment: -endpoint wins over the variables.
func TestEndpointFlagOverridesEnvironment(t *testing.T) {
	clearOTelEnv(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", dead.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", dead.URL+"/v1/traces")
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	out := runAgainst(t, srv.URL)
	assert.Contains(t, out, "exporting traces and metrics to "+srv.URL+"\n")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	assert.Contains(t, rc.paths, "/v1/traces")
	assert.Contains(t, rc.paths, "/v1/metrics")
}

// TestDefaultEndpoint: with neither flag nor variable, the data goes to
// OTLP/HTTP's default endpoint, over plain HTTP.
func TestDefaultEndpoint(t *testing.T) {
	clearOTelEnv(t)
	for _, signal := range []string{"TRACES", "METRICS"} {
		u, ok := endpointURL("", signal, "/v1/x")
		assert.True(t, ok)
		assert.Equal(t, "http://localhost:4318/v1/x", u)
	}
	assert.Equal(t, "http://localhost:4318", destination(""))
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:4318/v1/metrics")
	_, ok := endpointURL("", "METRICS", "/v1/metrics")
	assert.False(t, ok, "the exporter reads the variable itself")
	_, ok = endpointURL("", "TRACES", "/v1/traces")
	assert.True(t, ok, "the traces still go to the default")
}

func TestRunReportsAnUnreachableReceiver(t *testing.T) {
	clearOTelEnv(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	cfg := defaultConfig()
	cfg.Endpoint = srv.URL + "/nowhere"
	cfg.Calls, cfg.Pause = 2, time.Millisecond
	err := run(context.Background(), cfg, io.Discard)
	assert.ErrorContains(t, err, "is an OTLP/HTTP receiver listening there?")
}
