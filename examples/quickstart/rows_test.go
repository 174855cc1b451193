package main

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// rowRe matches a status line and captures its figures: calls, ok, failed,
// rejected by the breaker, the bulkhead and the retry budget.
var rowRe = regexp.MustCompile(`(?m)^\s*\d+\.\ds  \S+\s+(\d+)\s+(\d+)\s+(\d+) │\s+(\d+)\s+(\d+)\s+(\d+) │`)

// rowFigures returns the figures of every status line in text.
func rowFigures(t *testing.T, text string) [][6]int {
	t.Helper()
	var rows [][6]int
	for _, m := range rowRe.FindAllStringSubmatch(text, -1) {
		var r [6]int
		for i := range r {
			n, err := strconv.Atoi(m[i+1])
			require.NoError(t, err)
			r[i] = n
		}
		rows = append(rows, r)
	}
	return rows
}

// assertRowsAddUp checks that every row's calls are its successes, failures
// and rejections, each call counted once.
func assertRowsAddUp(t *testing.T, text string) {
	t.Helper()
	rows := rowFigures(t, text)
	require.NotEmpty(t, rows)
	for _, r := range rows {
		calls, ok, failed, breaker, bulkhead, budget := r[0], r[1], r[2], r[3], r[4], r[5]
		assert.Equal(t, calls, ok+failed+breaker+bulkhead+budget,
			"calls = ok + failed + rejected, in row %v", r)
	}
}

// duration returns a pipeline.duration histogram with one data point per
// outcome: counts by error.type ("" for successes).
func durations(counts map[string]uint64) metricdata.Metrics {
	var dps []metricdata.HistogramDataPoint[float64]
	for et, n := range counts {
		attrs := []attribute.KeyValue{attribute.String("palisade.pipeline.name", "users-api")}
		if et != "" {
			attrs = append(attrs, errorTypeKey.String(et))
		}
		dps = append(dps, metricdata.HistogramDataPoint[float64]{
			Attributes: attribute.NewSet(attrs...), Count: n,
		})
	}
	return metricdata.Metrics{Name: durationMetric, Data: metricdata.Histogram[float64]{DataPoints: dps}}
}

// rejections returns a rejected_calls counter with the given totals by
// policy type.
func rejections(counts map[string]int64) metricdata.Metrics {
	var dps []metricdata.DataPoint[int64]
	for pt, n := range counts {
		dps = append(dps, metricdata.DataPoint[int64]{Attributes: attribute.NewSet(attribute.String("palisade.policy.type", pt)), Value: n})
	}
	return metricdata.Metrics{Name: "palisade.rejected_calls", Data: metricdata.Sum[int64]{DataPoints: dps, IsMonotonic: true}}
}

// TestStatusLineAddsUp: a call whose retry the budget refused is counted
// once, as rejected by the retry, not also as failed.
func TestStatusLineAddsUp(t *testing.T) {
	rm := metricdata.ResourceMetrics{ScopeMetrics: []metricdata.ScopeMetrics{{Metrics: []metricdata.Metrics{
		durations(map[string]uint64{
			"": 150, "retry_exhausted": 20, "timeout": 3, "http_5xx": 4,
			"circuit_open": 10, "bulkhead_full": 5, "retry_budget_exhausted": 6,
		}),
		rejections(map[string]int64{"breaker": 10, "bulkhead": 5, "retry": 6}),
	}}}}
	cur := read(rm)
	line := statusLine(time.Second, "failing", cur, snapshot{rejected: map[string]int64{}, transitions: map[string]int64{}})
	t.Log(line)
	assertRowsAddUp(t, header+"\n"+line)
	rows := rowFigures(t, line)
	require.Len(t, rows, 1)
	assert.Equal(t, [6]int{198, 150, 27, 10, 5, 6}, rows[0])
}

// assertSummaryAddsUp checks that the summary's totals add up, and that the
// rows count no call the summary does not.
func assertSummaryAddsUp(t *testing.T, text string) {
	t.Helper()
	m := regexp.MustCompile(`calls:\s+(\d+), of which (\d+) succeeded, (\d+) failed, (\d+) were rejected`).FindStringSubmatch(text)
	require.NotNil(t, m, "the summary gives the totals")
	n := make([]int, 4)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	assert.Equal(t, n[0], n[1]+n[2]+n[3], "the summary adds up too")
	var calls int
	for _, r := range rowFigures(t, text) {
		calls += r[0]
	}
	assert.LessOrEqual(t, calls, n[0], "the rows count no call the summary does not")
}
