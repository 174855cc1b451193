package live

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/palisade-go/palisade/internal/semconv"
)

// latencyWindow is how far back the pipelines' latency and rates go.
const latencyWindow = 10 * time.Second

// pipelineMetrics reads the pipelines' recent latency and outcomes from the
// palisade.pipeline.duration histogram that every pipeline already records:
// the view adds nothing to the call path. It collects from the user's
// reader once per historyStep, while someone watches, and compares the
// histogram with what it was latencyWindow ago.
type pipelineMetrics struct {
	reader sdkmetric.Reader
	logger *slog.Logger

	mu          sync.Mutex
	totals      map[seriesKey]*histogram // cumulative, per series
	snaps       []histSnapshot           // oldest first, spanning latencyWindow
	lastCollect time.Time
	stats       map[string]map[string]any // per pipeline name: the fields shown
}

type seriesKey struct{ pipeline, errorType string }

type histogram struct {
	bounds []float64
	counts []uint64 // len(bounds)+1
	total  uint64
}

func (h *histogram) clone() *histogram {
	return &histogram{bounds: h.bounds, counts: append([]uint64(nil), h.counts...), total: h.total}
}

type histSnapshot struct {
	at     time.Time
	series map[seriesKey]*histogram
}

func newPipelineMetrics(r sdkmetric.Reader, logger *slog.Logger) *pipelineMetrics {
	return &pipelineMetrics{reader: r, logger: logger, totals: make(map[seriesKey]*histogram)}
}

// annotate adds each pipeline's latency quantiles and outcome rates to its
// view, collecting first if the last collection is historyStep old.
func (m *pipelineMetrics) annotate(views []policyView, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stats == nil || now.Sub(m.lastCollect) >= historyStep {
		m.lastCollect = now
		if err := m.collect(now); err != nil {
			m.logger.Warn("palisade/live: collecting pipeline metrics", slog.Any("error", err))
		}
	}
	for i := range views {
		if views[i].Kind != "pipeline" {
			continue
		}
		stats := m.stats[views[i].Name]
		for k, v := range stats {
			views[i].Fields[k] = v
		}
		// The colour: the share of calls that did not succeed.
		if rates, _ := stats["rates"].(map[string]float64); len(rates) > 0 {
			var all float64
			for _, r := range rates {
				all += r
			}
			switch failed := all - rates["ok"]; {
			case all > 0 && failed >= 0.5*all:
				views[i].Level = levelBad
			case all > 0 && failed >= 0.05*all:
				views[i].Level = levelWarn
			}
		}
	}
}

func (m *pipelineMetrics) collect(now time.Time) error {
	var rm metricdata.ResourceMetrics
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := m.reader.Collect(ctx, &rm); err != nil {
		return err
	}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if md.Name != semconv.PipelineDuration {
				continue
			}
			h, ok := md.Data.(metricdata.Histogram[float64])
			if !ok {
				continue
			}
			for _, dp := range h.DataPoints {
				m.add(dp, h.Temporality == metricdata.DeltaTemporality)
			}
		}
	}
	snap := histSnapshot{at: now, series: make(map[seriesKey]*histogram, len(m.totals))}
	for k, h := range m.totals {
		snap.series[k] = h.clone()
	}
	m.snaps = append(m.snaps, snap)
	cut := 0
	for cut < len(m.snaps)-1 && now.Sub(m.snaps[cut+1].at) >= latencyWindow {
		cut++
	}
	m.snaps = m.snaps[cut:]
	m.stats = statsBetween(m.snaps[0], snap)
	return nil
}

// add folds one data point into the cumulative totals.
func (m *pipelineMetrics) add(dp metricdata.HistogramDataPoint[float64], delta bool) {
	name, _ := dp.Attributes.Value(semconv.PipelineNameKey)
	errType, _ := dp.Attributes.Value(semconv.ErrorTypeKey)
	k := seriesKey{pipeline: name.AsString(), errorType: errType.AsString()}
	h := m.totals[k]
	if h == nil || len(h.counts) != len(dp.BucketCounts) || !delta {
		h = &histogram{bounds: dp.Bounds, counts: make([]uint64, len(dp.BucketCounts))}
		m.totals[k] = h
	}
	if delta {
		for i, c := range dp.BucketCounts {
			h.counts[i] += c
		}
		h.total += dp.Count
		return
	}
	copy(h.counts, dp.BucketCounts)
	h.total = dp.Count
}

// statsBetween gives, per pipeline, what happened between two snapshots:
// calls per second by outcome, and the latency quantiles of all calls.
func statsBetween(old, cur histSnapshot) map[string]map[string]any {
	secs := cur.at.Sub(old.at).Seconds()
	out := make(map[string]map[string]any)
	merged := make(map[string]*histogram)
	for k, h := range cur.series {
		d := h.clone()
		if o := old.series[k]; o != nil && len(o.counts) == len(d.counts) && o.total <= d.total {
			for i := range d.counts {
				d.counts[i] -= min(o.counts[i], d.counts[i])
			}
			d.total -= o.total
		}
		f := out[k.pipeline]
		if f == nil {
			f = map[string]any{"window_s": math.Round(secs*10) / 10}
			out[k.pipeline] = f
		}
		rates, _ := f["rates"].(map[string]float64)
		if rates == nil {
			rates = make(map[string]float64)
			f["rates"] = rates
		}
		outcome := k.errorType
		if outcome == "" {
			outcome = "ok"
		}
		if secs > 0 {
			rates[outcome] = math.Round((rates[outcome]+float64(d.total)/secs)*10) / 10
		}
		all := merged[k.pipeline]
		if all == nil {
			merged[k.pipeline] = d
			continue
		}
		if len(all.counts) == len(d.counts) {
			for i := range d.counts {
				all.counts[i] += d.counts[i]
			}
			all.total += d.total
		}
	}
	for name, h := range merged {
		if h.total == 0 {
			continue
		}
		out[name]["p50_s"] = quantile(h, 0.5)
		out[name]["p99_s"] = quantile(h, 0.99)
	}
	return out
}

// quantile estimates the q-quantile of a histogram, interpolating within
// the bucket it falls in; in the overflow bucket it gives the last bound.
func quantile(h *histogram, q float64) float64 {
	if len(h.bounds) == 0 {
		return 0
	}
	rank := q * float64(h.total)
	var seen float64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			if i >= len(h.bounds) {
				return h.bounds[len(h.bounds)-1]
			}
			lo := 0.0
			if i > 0 {
				lo = h.bounds[i-1]
			}
			return round6(lo + (h.bounds[i]-lo)*(rank-seen)/float64(c))
		}
		seen += float64(c)
	}
	return h.bounds[len(h.bounds)-1]
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
