package live

import (
	"cmp"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/palisade-go/palisade/internal/inventory"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/bulkhead"
)

// Levels: the colour of a policy on the page.
const (
	levelOK   = "ok"   // working normally
	levelWarn = "warn" // under strain: half-open, full, nearly spent
	levelBad  = "bad"  // rejecting: open, isolated, exhausted
)

// policyView is one policy as the page and the JSON twin show it.
type policyView struct {
	ID     uint64         `json:"id"`
	Kind   string         `json:"kind"`
	Name   string         `json:"name"`
	State  string         `json:"state,omitempty"`
	Since  *time.Time     `json:"since,omitempty"` // when State was entered, when known
	Level  string         `json:"level"`
	Fields map[string]any `json:"fields"`
	// Actions the policy supports (isolate, reset); the page offers them
	// only to a viewer the Authorize function approves.
	Actions []string `json:"actions,omitempty"`

	spark      float64   // the sparkline's value, in [0, 1]
	breakUntil time.Time // a breaker's: when its break ends, while open
}

// describe returns the view of one live policy. now is the sample's time.
// Known kinds are read through their exported methods (and the facts they
// registered); any other kind is shown by its facts.
func describe(it inventory.Item, now time.Time) policyView {
	v := policyView{ID: it.ID, Kind: it.Kind, Level: levelOK, Fields: map[string]any{}}
	if n, ok := it.Owner.(interface{ Name() string }); ok {
		v.Name = n.Name()
	}
	switch p := it.Owner.(type) {
	case *breaker.Breaker:
		describeBreaker(&v, p, it.Facts, now)
	case *bulkhead.Bulkhead:
		describeBulkhead(&v, p, it.Facts)
	case *budget.Budget:
		describeBudget(&v, p, it.Facts)
	default:
		if it.Kind == "pipeline" {
			describePipeline(&v, it.Facts)
		} else {
			describeFacts(&v, it.Facts)
		}
	}
	if v.Name == "" {
		v.Name = fmt.Sprintf("%s #%d", it.Kind, it.ID)
	}
	if _, ok := it.Owner.(interface {
		Isolate()
		Reset()
	}); ok {
		v.Actions = []string{actionIsolate, actionReset}
	}
	return v
}

// describeBreaker reads a breaker as Metrics does: a break that is over is
// observed as half-open (and reported, as a State call would report it).
func describeBreaker(v *policyView, b *breaker.Breaker, facts inventory.Facts, now time.Time) {
	m := b.Metrics()
	v.State = m.State.String()
	since := m.StateSince.UTC()
	v.Since = &since
	f := v.Fields
	f["calls"] = m.Calls
	f["failures"] = m.Failures
	f["failure_ratio"] = round(m.FailureRatio)
	f["consecutive_failures"] = m.ConsecutiveFailures
	f["total_calls"] = m.TotalCalls
	f["rejected"] = m.Rejected
	if !m.LastFailure.IsZero() {
		f["last_failure"] = m.LastFailure.UTC()
	}
	if t, ok := facts["failure_threshold"].(float64); ok {
		f["failure_threshold"] = t
	}
	if d, ok := facts["slow_call_duration"].(time.Duration); ok && d > 0 {
		f["slow_calls"] = m.SlowCalls
		f["slow_ratio"] = round(m.SlowCallRatio)
		f["slow_call_duration_s"] = d.Seconds()
		f["average_duration_s"] = m.AverageDuration.Seconds()
		if t, ok := facts["slow_threshold"].(float64); ok {
			f["slow_threshold"] = t
		}
	}
	if n, ok := facts["window_size"].(int); ok && n > 0 {
		f["window_size"] = n
		f["window_fill"] = round(float64(m.Calls) / float64(n))
	} else if d, ok := facts["window_duration"].(time.Duration); ok && d > 0 {
		f["window_duration_s"] = d.Seconds()
	}
	if until, ok := facts["break_until"].(time.Time); ok && m.State == breaker.Open {
		f["break_remaining_s"] = round(max(until.Sub(now), 0).Seconds())
		v.breakUntil = until.UTC()
	}
	switch m.State {
	case breaker.Closed:
		v.Level = levelOK
	case breaker.HalfOpen:
		v.Level = levelWarn
	default:
		v.Level = levelBad
	}
	v.spark = m.FailureRatio
}

func describeBulkhead(v *policyView, b *bulkhead.Bulkhead, facts inventory.Facts) {
	inFlight, limit, queued := b.InFlight(), b.MaxConcurrent(), b.Queued()
	f := v.Fields
	f["in_flight"] = inFlight
	f["limit"] = limit
	f["queued"] = queued
	if n, ok := facts["max_queue"].(int); ok {
		f["max_queue"] = n
	}
	if d, ok := facts["max_wait"].(time.Duration); ok && d > 0 {
		f["max_wait_s"] = d.Seconds()
	}
	if inFlight >= limit {
		v.Level = levelWarn
		if n, _ := facts["max_queue"].(int); queued >= n {
			v.Level = levelBad // a call arriving now is refused
		}
	}
	v.spark = min(float64(inFlight)/float64(max(limit, 1)), 1)
}

func describeBudget(v *policyView, b *budget.Budget, facts inventory.Facts) {
	s := b.Stats()
	f := v.Fields
	f["calls"] = s.Calls
	f["extra"] = s.Extra
	f["window_s"] = b.Window().Seconds()
	ratio, _ := facts["ratio"].(float64)
	minExtra, _ := facts["min_extra"].(int)
	f["ratio"] = ratio
	f["min_extra"] = minExtra
	allowed := float64(minExtra) + ratio*float64(s.Calls)
	f["allowed"] = math.Floor(allowed)
	switch {
	case float64(s.Extra+1) > allowed:
		v.Level = levelBad // the next extra attempt is denied
	case float64(s.Extra) >= 0.8*allowed:
		v.Level = levelWarn
	}
	if allowed > 0 {
		v.spark = min(float64(s.Extra)/allowed, 1)
	}
}

// policyRef names one policy of a pipeline.
type policyRef struct {
	ID   uint64 `json:"id,omitempty"` // 0 for a policy the inventory does not list
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
}

func describePipeline(v *policyView, facts inventory.Facts) {
	if n, ok := facts["name"].(string); ok {
		v.Name = n
	}
	// The policies are resolved to inventory ids by the sampler, which
	// knows every live policy; here they are kept for it.
	if ps, ok := facts["policies"].([]policy.Policy); ok {
		v.Fields["policies"] = ps
	}
}

// describeFacts shows a policy of a kind the view does not know by the
// facts it registered, converted to plain JSON values.
func describeFacts(v *policyView, facts inventory.Facts) {
	for k, val := range facts {
		switch x := val.(type) {
		case time.Duration:
			v.Fields[k+"_s"] = x.Seconds()
		case time.Time:
			v.Fields[k] = x.UTC()
		case string, bool, int, int32, int64, uint, uint32, uint64, float32:
			v.Fields[k] = x
		case float64:
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				v.Fields[k] = x
			}
		case fmt.Stringer:
			v.Fields[k] = x.String()
		}
	}
	if s, ok := facts["state"].(fmt.Stringer); ok {
		v.State = s.String()
	} else if s, ok := facts["state"].(string); ok {
		v.State = s
	}
	delete(v.Fields, "state")
	if l, _ := facts["level"].(string); l == levelWarn || l == levelBad {
		v.Level = l
	}
	delete(v.Fields, "level")
}

// resolvePipelines replaces each pipeline's policies by references to the
// listed policies, matched by identity.
func resolvePipelines(views []policyView, items []inventory.Item) {
	ids := make(map[any]uint64, len(items))
	for _, it := range items {
		if it.Kind != "pipeline" {
			ids[it.Owner] = it.ID
		}
	}
	for i := range views {
		ps, ok := views[i].Fields["policies"].([]policy.Policy)
		if !ok {
			continue
		}
		refs := make([]policyRef, 0, len(ps))
		for _, p := range ps {
			r := policyRef{ID: ids[any(p)], Kind: kindOf(p)}
			if n, ok := p.(interface{ Name() string }); ok {
				r.Name = n.Name()
			}
			refs = append(refs, r)
		}
		views[i].Fields["policies"] = refs
	}
}

// kindOf names the kind of a policy of a pipeline: its package's name.
func kindOf(p policy.Policy) string {
	if _, ok := p.(*policy.Pipeline); ok {
		return "pipeline"
	}
	t := strings.TrimLeft(fmt.Sprintf("%T", p), "*") // "breaker.Breaker"
	if i := strings.IndexByte(t, '.'); i >= 0 {
		return t[:i]
	}
	return t
}

// round keeps 4 decimals: enough for a ratio on a page, and short in JSON.
func round(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return math.Round(x*1e4) / 1e4
}

// sampleAll describes every live policy. A policy whose description
// panics — reading a breaker whose break is over reports the transition,
// and calls its OnStateChange, which may panic — is shown with the error,
// which is logged.
func sampleAll(now time.Time, maxPolicies int, logger *slog.Logger) (views []policyView, omitted int) {
	items, total := inventory.List(maxPolicies)
	views = make([]policyView, 0, len(items))
	for _, it := range items {
		views = append(views, safeDescribe(it, now, logger))
	}
	resolvePipelines(views, items)
	slices.SortStableFunc(views, func(a, b policyView) int {
		if c := kindRank(a.Kind) - kindRank(b.Kind); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if maxPolicies > 0 && len(items) == maxPolicies {
		omitted = max(total-len(items), 0) // some of which may have just been collected
	}
	return views, omitted
}

func safeDescribe(it inventory.Item, now time.Time, logger *slog.Logger) (v policyView) {
	defer func() {
		if r := recover(); r != nil {
			logger.Error("palisade/live: reading a policy panicked",
				slog.String("policy.type", it.Kind), slog.Uint64("policy.id", it.ID), slog.Any("panic", r))
			v = policyView{ID: it.ID, Kind: it.Kind, Name: fmt.Sprintf("%s #%d", it.Kind, it.ID), Level: levelBad,
				Fields: map[string]any{"error": fmt.Sprint("reading it panicked: ", r)}}
		}
	}()
	return describe(it, now)
}

// kindRank orders the page: pipelines first, then breakers, then the rest.
func kindRank(kind string) int {
	switch kind {
	case "pipeline":
		return 0
	case "breaker":
		return 1
	case "bulkhead":
		return 2
	case "budget":
		return 3
	}
	return 4
}
