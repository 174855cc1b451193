package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy/breaker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// scrape fetches and parses the metrics a handler serves.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return families
}

// labels returns a series' labels as a map.
func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// series returns the series of family name whose labels include want.
func series(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f, ok := families[name]
	require.True(t, ok, "the scrape has %s", name)
	for _, m := range f.GetMetric() {
		l := labels(m)
		match := true
		for k, v := range want {
			match = match && l[k] == v
		}
		if match {
			return m
		}
	}
	t.Fatalf("no %s series with labels %v", name, want)
	return nil
}

var errDown = errors.New("down")

// drive makes the app's pipeline see successes, a retried failure, a retried
// timeout, enough failures to open the breaker, and then a rejection.
func drive(t *testing.T, a *app) (calls int) {
	t.Helper()
	ctx := context.Background()
	ok := func(context.Context) error { return nil }
	fail := func(context.Context) error { return errDown }
	for range 5 {
		require.NoError(t, a.pipeline.Execute(ctx, ok))
		calls++
	}
	first := true
	require.NoError(t, a.pipeline.Execute(ctx, func(context.Context) error {
		if first {
			first = false
			return errDown
		}
		return nil
	}), "a retried failure")
	calls++
	first = true
	require.NoError(t, a.pipeline.Execute(ctx, func(ctx context.Context) error {
		if first {
			first = false
			<-ctx.Done() // too slow: the timeout ends it
			return ctx.Err()
		}
		return nil
	}), "a retried timeout")
	calls++
	for a.breaker.State() == breaker.Closed {
		a.pipeline.Execute(ctx, fail)
		calls++
		require.Less(t, calls, 500, "the breaker opens")
	}
	err := a.pipeline.Execute(ctx, ok)
	require.ErrorIs(t, err, breaker.ErrOpen)
	return calls + 1
}

func TestMetricsEndpoint(t *testing.T) {
	a, err := newApp()
	require.NoError(t, err)
	defer a.provider.Shutdown(context.Background())
	calls := drive(t, a)
	families := scrape(t, a.handler)

	// The breaker's state: one series per state, 1 for the current one.
	status := families["palisade_breaker_status"]
	require.NotNil(t, status)
	assert.Equal(t, dto.MetricType_GAUGE, status.GetType())
	open := series(t, families, "palisade_breaker_status", map[string]string{"palisade_policy_name": "inventory", "palisade_breaker_state": "open"})
	assert.Equal(t, 1.0, open.GetGauge().GetValue())
	closed := series(t, families, "palisade_breaker_status", map[string]string{"palisade_policy_name": "inventory", "palisade_breaker_state": "closed"})
	assert.Equal(t, 0.0, closed.GetGauge().GetValue())

	// Rejections, with the policy type and name as labels.
	rejected := families["palisade_rejected_calls_total"]
	require.NotNil(t, rejected)
	assert.Equal(t, dto.MetricType_COUNTER, rejected.GetType())
	byBreaker := series(t, families, "palisade_rejected_calls_total", map[string]string{
		"palisade_policy_type": "breaker", "palisade_policy_name": "inventory", "error_type": "circuit_open"})
	assert.GreaterOrEqual(t, byBreaker.GetCounter().GetValue(), 1.0)

	// Latency: a histogram in seconds, every call counted.
	duration := families["palisade_pipeline_duration_seconds"]
	require.NotNil(t, duration)
	assert.Equal(t, dto.MetricType_HISTOGRAM, duration.GetType())
	var counted uint64
	for _, m := range duration.GetMetric() {
		assert.Equal(t, "inventory", labels(m)["palisade_pipeline_name"])
		counted += m.GetHistogram().GetSampleCount()
	}
	assert.EqualValues(t, calls, counted)
	ok := series(t, families, "palisade_pipeline_duration_seconds", map[string]string{"palisade_pipeline_name": "inventory"})
	var bounds []float64
	for _, b := range ok.GetHistogram().GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	assert.Contains(t, bounds, 0.001)
	assert.Contains(t, bounds, 10.0)

	// And the rest, under the names the README lists.
	transitions := series(t, families, "palisade_breaker_transitions_total", map[string]string{
		"palisade_breaker_previous_state": "closed", "palisade_breaker_state": "open"})
	assert.Equal(t, 1.0, transitions.GetCounter().GetValue())
	assert.GreaterOrEqual(t, series(t, families, "palisade_retry_retries_total", nil).GetCounter().GetValue(), 2.0)
	assert.Equal(t, 1.0, series(t, families, "palisade_timeout_timeouts_total", nil).GetCounter().GetValue())
	for _, name := range []string{"palisade_breaker_failure_ratio", "palisade_bulkhead_usage", "palisade_bulkhead_limit", "palisade_bulkhead_queued"} {
		assert.Contains(t, families, name)
	}
	assert.Equal(t, 8.0, series(t, families, "palisade_bulkhead_limit", nil).GetGauge().GetValue())
}

// TestDashboardQueriesExistingMetrics checks that every metric the Grafana
// dashboard queries is one the exporter serves, and that it has the panels
// it promises.
func TestDashboardQueriesExistingMetrics(t *testing.T) {
	raw, err := os.ReadFile("grafana-dashboard.json")
	require.NoError(t, err)
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))

	a, err := newApp()
	require.NoError(t, err)
	defer a.provider.Shutdown(context.Background())
	drive(t, a)
	families := scrape(t, a.handler)

	name := regexp.MustCompile(`palisade_[a-z_]+`)
	var titles []string
	for _, p := range dash.Panels {
		titles = append(titles, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		for _, target := range p.Targets {
			for _, n := range name.FindAllString(target.Expr, -1) {
				if strings.HasPrefix(n, "palisade_policy_") || strings.HasPrefix(n, "palisade_pipeline_name") ||
					strings.HasPrefix(n, "palisade_breaker_state") || strings.HasPrefix(n, "palisade_breaker_previous_state") {
					continue // a label, not a metric
				}
				family := strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count")
				assert.Contains(t, families, family, "panel %q queries %s", p.Title, n)
			}
		}
	}
	for _, want := range []string{"Breaker state", "Rejections by policy", "Retries and timeouts", "Latency percentiles, successful calls", "Latency p95 by outcome"} {
		assert.Contains(t, titles, want)
	}
	// Fast rejections must not pull the latency percentiles down during an
	// outage: the percentiles panel reads successes only, and the other one
	// splits by outcome.
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			if !strings.Contains(target.Expr, "histogram_quantile") {
				continue
			}
			switch p.Title {
			case "Latency percentiles, successful calls":
				assert.Contains(t, target.Expr, `error_type=""`, "successes only")
			default:
				assert.Contains(t, target.Expr, "sum by (le, palisade_pipeline_name, error_type)", "panel %q mixes outcomes in one percentile", p.Title)
			}
		}
	}
}

func TestRun(t *testing.T) {
	cfg := config{Addr: "127.0.0.1:0", Duration: 500 * time.Millisecond, Rate: 100, Cycle: 300 * time.Millisecond, Outage: 100 * time.Millisecond}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), cfg, &out))
	assert.Regexp(t, `serving metrics on http://127\.0\.0\.1:\d+/metrics`, out.String())
}

// The outage sits in the middle of each cycle, so that a run of one cycle
// (30s by default) shows health, the outage and the recovery.
func TestOutageInTheMiddleOfEachCycle(t *testing.T) {
	cfg := defaultConfig()
	require.NoError(t, cfg.validate())
	s := time.Second
	for _, c := range []struct {
		at   time.Duration
		down bool
	}{{0, false}, {9 * s, false}, {10 * s, true}, {19 * s, true}, {20 * s, false}, {29 * s, false}, {40 * s, true}} {
		assert.Equal(t, c.down, cfg.down(c.at), "at %v", c.at)
	}
	for _, bad := range []config{
		{Rate: 0, Cycle: s, Outage: 0},
		{Rate: 1, Cycle: 0},
		{Rate: 1, Cycle: s, Outage: 2 * s},
	} {
		assert.Error(t, bad.validate(), "%+v", bad)
	}
}
