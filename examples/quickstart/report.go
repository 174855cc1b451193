package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The OpenTelemetry names the demo reads, as palisade reports them.
const (
	durationMetric    = "palisade.pipeline.duration"
	statusMetric      = "palisade.breaker.status"
	transitionsMetric = "palisade.breaker.transitions"
	retriesMetric     = "palisade.retry.retries"
	timeoutsMetric    = "palisade.timeout.timeouts"

	errorTypeKey     = attribute.Key("error.type")
	stateKey         = attribute.Key("palisade.breaker.state")
	previousStateKey = attribute.Key("palisade.breaker.previous_state")
)

// transitionOrder lists the transitions a breaker makes, in its life cycle.
var transitionOrder = []string{"closed→open", "open→half_open", "half_open→open", "half_open→closed"}

// rejectingPolicy maps the error.type of a call's rejection to the type of
// the policy that rejected it.
var rejectingPolicy = map[string]string{
	"circuit_open":           "breaker",
	"bulkhead_full":          "bulkhead",
	"retry_budget_exhausted": "retry",
}

// snapshot is what the metrics say at one collection, cumulated since the
// start. Every call is counted once, by its outcome in
// palisade.pipeline.duration: calls = ok + failed + the rejected ones.
type snapshot struct {
	calls, ok, failed int64
	rejected          map[string]int64 // by the rejecting policy's palisade.policy.type
	retries, timeouts int64
	state             string           // the breaker's, from palisade.breaker.status
	transitions       map[string]int64 // "from→to"
}

// collect reads the metrics through reader.
func collect(reader *sdkmetric.ManualReader) (snapshot, error) {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		return snapshot{}, err
	}
	return read(rm), nil
}

// read extracts a snapshot from collected metrics.
func read(rm metricdata.ResourceMetrics) snapshot {
	s := snapshot{rejected: map[string]int64{}, transitions: map[string]int64{}, state: "closed"}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Histogram[float64]:
				if m.Name != durationMetric {
					continue
				}
				for _, dp := range data.DataPoints {
					n := int64(dp.Count)
					s.calls += n
					et, _ := dp.Attributes.Value(errorTypeKey)
					if et.AsString() == "" {
						s.ok += n
					} else if by, ok := rejectingPolicy[et.AsString()]; ok {
						// From the histogram, not palisade.rejected_calls,
						// so that a call is counted once, when it ends, in
						// the same row as in the calls. A retry budget's
						// refusal ends a call whose attempt failed: it is
						// counted as the retry's rejection only.
						s.rejected[by] += n
					} else {
						s.failed += n
					}
				}
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					switch m.Name {
					case retriesMetric:
						s.retries += dp.Value
					case timeoutsMetric:
						s.timeouts += dp.Value
					case statusMetric:
						if dp.Value == 1 {
							st, _ := dp.Attributes.Value(stateKey)
							s.state = st.AsString()
						}
					case transitionsMetric:
						from, _ := dp.Attributes.Value(previousStateKey)
						to, _ := dp.Attributes.Value(stateKey)
						s.transitions[from.AsString()+"→"+to.AsString()] += dp.Value
					}
				}
			}
		}
	}
	return s
}

const header = "  time  server     calls     ok  failed │ rejected by: breaker bulkhead retry │ retries timeouts │ breaker"

// statusLine describes what happened between prev and cur.
func statusLine(elapsed time.Duration, phase string, cur, prev snapshot) string {
	state := cur.state
	if steps := stateWalk(prev, cur); steps != "" {
		state = fmt.Sprintf("%-9s (%s)", state, steps)
	}
	return fmt.Sprintf("%5.1fs  %-9s %6d %6d %7d │ %20d %8d %5d │ %7d %8d │ %s",
		elapsed.Seconds(), phase,
		cur.calls-prev.calls, cur.ok-prev.ok, cur.failed-prev.failed,
		cur.rejected["breaker"]-prev.rejected["breaker"],
		cur.rejected["bulkhead"]-prev.rejected["bulkhead"],
		cur.rejected["retry"]-prev.rejected["retry"],
		cur.retries-prev.retries, cur.timeouts-prev.timeouts,
		state)
}

// stateWalk describes the transitions between prev and cur, which the
// counters give without their order, as the walk from prev's state to cur's
// that takes each of them: "closed → open → half_open". Past a handful it
// only counts them.
func stateWalk(prev, cur snapshot) string {
	left := map[string]int64{}
	var total int64
	for _, t := range transitionOrder {
		if n := cur.transitions[t] - prev.transitions[t]; n > 0 {
			left[t] = n
			total += n
		}
	}
	if total == 0 {
		return ""
	}
	if total <= 8 {
		if walk, ok := walkFrom(prev.state, cur.state, left, total); ok {
			return strings.Join(walk, " → ")
		}
	}
	return fmt.Sprintf("%d transitions", total)
}

// walkFrom returns a walk from state to end using every transition in left
// (total of them), by depth-first search.
func walkFrom(state, end string, left map[string]int64, total int64) ([]string, bool) {
	if total == 0 {
		return []string{state}, state == end
	}
	for _, t := range transitionOrder {
		from, to, _ := strings.Cut(t, "→")
		if from != state || left[t] == 0 {
			continue
		}
		left[t]--
		rest, ok := walkFrom(to, end, left, total-1)
		left[t]++
		if ok {
			return append([]string{state}, rest...), true
		}
	}
	return nil, false
}

// writeSummary writes the totals, what the breaker did, the latencies, and
// then every metric collected, as the SDK gives them.
func writeSummary(out io.Writer, rm metricdata.ResourceMetrics) {
	s := read(rm)
	fmt.Fprintln(out, "Summary, from the OpenTelemetry metrics read through the SDK:")
	fmt.Fprintf(out, "  calls:    %d, of which %d succeeded, %d failed, %d were rejected: %d by the breaker, %d by the bulkhead, %d by the retry budget (a failed attempt whose retry it refused)\n",
		s.calls, s.ok, s.failed, s.rejected["breaker"]+s.rejected["bulkhead"]+s.rejected["retry"],
		s.rejected["breaker"], s.rejected["bulkhead"], s.rejected["retry"])
	fmt.Fprintf(out, "  retries:  %d made, %d refused by the retry budget; %d attempts timed out\n",
		s.retries, s.rejected["retry"], s.timeouts)
	fmt.Fprintf(out, "  breaker:  opened %s, closed again %s; now %s\n",
		times(s.transitions["closed→open"]+s.transitions["half_open→open"]), times(s.transitions["half_open→closed"]), s.state)
	if p := percentiles(rm); p != "" {
		fmt.Fprintf(out, "  latency:  %s\n", p)
	}

	fmt.Fprintln(out, "\nEvery metric collected:")
	for _, sm := range rm.ScopeMetrics {
		metrics := slices.Clone(sm.Metrics)
		slices.SortFunc(metrics, func(a, b metricdata.Metrics) int { return strings.Compare(a.Name, b.Name) })
		for _, m := range metrics {
			writeMetric(out, m)
		}
	}
}

// percentiles describes the latency of successful calls.
func percentiles(rm metricdata.ResourceMetrics) string {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok || m.Name != durationMetric {
				continue
			}
			for _, dp := range h.DataPoints {
				if _, failed := dp.Attributes.Value(errorTypeKey); failed || dp.Count == 0 {
					continue
				}
				return fmt.Sprintf("successful calls took p50 %s, p90 %s, p99 %s (bucket bounds)",
					quantile(dp, 0.5), quantile(dp, 0.9), quantile(dp, 0.99))
			}
		}
	}
	return ""
}

// quantile returns the upper bound of the bucket holding quantile q of dp.
func quantile(dp metricdata.HistogramDataPoint[float64], q float64) string {
	rank := uint64(math.Ceil(q * float64(dp.Count)))
	var seen uint64
	for i, n := range dp.BucketCounts {
		seen += n
		if seen >= rank {
			if i < len(dp.Bounds) {
				return "≤ " + (time.Duration(dp.Bounds[i] * float64(time.Second))).String()
			}
			return "> " + (time.Duration(dp.Bounds[len(dp.Bounds)-1] * float64(time.Second))).String()
		}
	}
	return "?"
}

// writeMetric writes one metric's data points, one a line.
func writeMetric(out io.Writer, m metricdata.Metrics) {
	unit := ""
	if m.Unit != "" {
		unit = " [" + m.Unit + "]"
	}
	fmt.Fprintf(out, "  %s%s — %s\n", m.Name, unit, m.Description)
	var lines []string
	switch data := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range data.DataPoints {
			lines = append(lines, fmt.Sprintf("%-64s %d", attrs(dp.Attributes), dp.Value))
		}
	case metricdata.Sum[float64]:
		for _, dp := range data.DataPoints {
			lines = append(lines, fmt.Sprintf("%-64s %g", attrs(dp.Attributes), dp.Value))
		}
	case metricdata.Gauge[float64]:
		for _, dp := range data.DataPoints {
			lines = append(lines, fmt.Sprintf("%-64s %.2f", attrs(dp.Attributes), dp.Value))
		}
	case metricdata.Gauge[int64]:
		for _, dp := range data.DataPoints {
			lines = append(lines, fmt.Sprintf("%-64s %d", attrs(dp.Attributes), dp.Value))
		}
	case metricdata.Histogram[float64]:
		for _, dp := range data.DataPoints {
			mean := 0.0
			if dp.Count > 0 {
				mean = dp.Sum / float64(dp.Count)
			}
			lines = append(lines, fmt.Sprintf("%-64s count %d, mean %s, p99 %s", attrs(dp.Attributes), dp.Count,
				time.Duration(mean*float64(time.Second)).Round(10*time.Microsecond), quantile(dp, 0.99)))
		}
	default:
		lines = append(lines, fmt.Sprintf("(%T)", data))
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Fprintf(out, "      %s\n", l)
	}
}

// attrs formats an attribute set compactly: key=value, without the
// "palisade." prefix every key but error.type has.
func attrs(set attribute.Set) string {
	parts := make([]string, 0, set.Len())
	for _, kv := range set.ToSlice() {
		parts = append(parts, strings.TrimPrefix(string(kv.Key), "palisade.")+"="+kv.Value.Emit())
	}
	return strings.Join(parts, " ")
}

func times(n int64) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}
