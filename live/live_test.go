package live

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/internal/inventory"
	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/telemetry"
)

func TestJSONTwinDescribesEveryKind(t *testing.T) {
	b := newBreaker(t, "json-breaker", time.Hour)
	open(t, b)
	bh := bulkhead.Must(bulkhead.Config{Name: "json-bulkhead", MaxConcurrent: 2, MaxQueue: 3, Telemetry: telemetry.Disabled()})
	release := make(chan struct{})
	running := make(chan struct{})
	go bh.Execute(context.Background(), func(context.Context) error { close(running); <-release; return nil })
	<-running
	defer close(release)
	bg := budget.Must(budget.Config{Ratio: 0.2, MinExtra: 3})
	for range 10 {
		bg.Call()
	}
	bg.TryExtra()
	p := policy.NewPipeline("json-pipeline", b, bh).WithTelemetry(telemetry.Disabled())

	srv := serve(t, Must(Config{}))
	f := getJSON(t, srv.URL)
	if f.Type != "snapshot" {
		t.Errorf("type %q, want snapshot", f.Type)
	}

	bv := find(t, f, "breaker", "json-breaker")
	if bv.State != "open" || bv.Level != levelBad || bv.Since == nil {
		t.Errorf("breaker: state %q level %q since %v", bv.State, bv.Level, bv.Since)
	}
	for key, want := range map[string]float64{"failure_ratio": 1, "failure_threshold": 0.5, "window_size": 20, "window_fill": 0.2, "calls": 4, "rejected": 0} {
		if got, _ := bv.Fields[key].(float64); got != want {
			t.Errorf("breaker %s = %v, want %v", key, bv.Fields[key], want)
		}
	}
	if r, _ := bv.Fields["break_remaining_s"].(float64); r < 3000 || r > 3600 {
		t.Errorf("break_remaining_s = %v, want about an hour", bv.Fields["break_remaining_s"])
	}
	if len(bv.Actions) != 2 {
		t.Errorf("breaker actions %v", bv.Actions)
	}

	hv := find(t, f, "bulkhead", "json-bulkhead")
	for key, want := range map[string]float64{"in_flight": 1, "limit": 2, "queued": 0, "max_queue": 3} {
		if got, _ := hv.Fields[key].(float64); got != want {
			t.Errorf("bulkhead %s = %v, want %v", key, hv.Fields[key], want)
		}
	}

	var gv policyView
	for _, v := range f.Policies {
		if v.Kind == "budget" && v.Fields["calls"] == 10.0 && v.Fields["min_extra"] == 3.0 {
			gv = v
		}
	}
	if gv.Fields["extra"] != 1.0 || gv.Fields["allowed"] != 5.0 || gv.Fields["ratio"] != 0.2 || !strings.HasPrefix(gv.Name, "budget #") {
		t.Errorf("budget: %+v", gv)
	}

	pv := find(t, f, "pipeline", "json-pipeline")
	refs, _ := pv.Fields["policies"].([]any)
	if len(refs) != 2 {
		t.Fatalf("pipeline policies %v", pv.Fields["policies"])
	}
	first := refs[0].(map[string]any)
	if first["kind"] != "breaker" || first["name"] != "json-breaker" || first["id"] != float64(bv.ID) {
		t.Errorf("pipeline's first policy %v, want the breaker #%d", first, bv.ID)
	}
	// A pipeline inside another is shown as a pipeline.
	outer := policy.NewPipeline("json-outer", p)
	ov := find(t, getJSON(t, srv.URL), "pipeline", "json-outer")
	if refs, _ := ov.Fields["policies"].([]any); len(refs) != 1 || refs[0].(map[string]any)["kind"] != "pipeline" ||
		refs[0].(map[string]any)["name"] != "json-pipeline" {
		t.Errorf("the outer pipeline's policies: %v", ov.Fields["policies"])
	}
	runtime.KeepAlive(outer)
	runtime.KeepAlive(bg)
}

func TestDroppedPolicyLeavesTheView(t *testing.T) {
	srv := serve(t, Must(Config{}))
	func() {
		b := newBreaker(t, "dropped-breaker", time.Second)
		find(t, getJSON(t, srv.URL), "breaker", "dropped-breaker")
		runtime.KeepAlive(b)
	}()
	waitFor(t, "dropped from the view", func() bool {
		runtime.GC()
		for _, p := range getJSON(t, srv.URL).Policies {
			if p.Name == "dropped-breaker" {
				return false
			}
		}
		return true
	})
}

func TestStreamSendsTransitionsAsTheyHappen(t *testing.T) {
	b := newBreaker(t, "stream-breaker", 200*time.Millisecond)
	h := Must(Config{Interval: MinInterval})
	srv := serve(t, h)
	s := openStream(t, srv.URL)
	defer s.close()

	f := s.next(t)
	if f.Type != "full" || find(t, f.frame(), "breaker", "stream-breaker").State != "closed" {
		t.Fatalf("first frame: %s, want a full frame with the breaker closed", f.Type)
	}
	open(t, b)
	var sawOpen, sawHalfOpen bool
	deadline := time.Now().Add(5 * time.Second)
	for !sawOpen || !sawHalfOpen {
		if time.Now().After(deadline) {
			t.Fatalf("transitions seen: to open %v, to half-open %v", sawOpen, sawHalfOpen)
		}
		f := s.next(t)
		if f.Type != "delta" {
			t.Errorf("frame %d is %s, want delta", f.Seq, f.Type)
		}
		for _, tr := range f.Transitions {
			if tr.Name == "stream-breaker" {
				switch {
				case tr.From == "closed" && tr.To == "open":
					sawOpen = true
				case tr.From == "open" && tr.To == "half_open":
					sawHalfOpen = true
				}
			}
		}
	}
	runtime.KeepAlive(b)
}

func TestStreamEndsWhenTheViewerLeaves(t *testing.T) {
	before := goleak.IgnoreCurrent()
	h := Must(Config{Interval: MinInterval})
	srv := httptest.NewServer(h)
	s := openStream(t, srv.URL)
	s.next(t)
	if n, running := h.viewers(); n != 1 || !running {
		t.Fatalf("viewers %d, sampler running %v; want 1, true", n, running)
	}
	s.close()
	// The handler notices the viewer has gone, and the sampler stops, with
	// no Close: nothing of the stream is left running.
	waitFor(t, "without viewers", func() bool { n, running := h.viewers(); return n == 0 && !running })
	h.hub.mu.Lock()
	done := h.hub.done
	h.hub.mu.Unlock()
	<-done
	http.DefaultClient.CloseIdleConnections()
	srv.Close()
	goleak.VerifyNone(t, before)
}

func TestCloseEndsStreams(t *testing.T) {
	h := Must(Config{})
	srv := serve(t, h)
	s := openStream(t, srv.URL)
	defer s.close()
	s.next(t)
	h.Close()
	if _, err := s.r.ReadString(0); err == nil {
		t.Error("the stream goes on after Close")
	}
	resp, err := http.Get(srv.URL + "?format=events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a stream after Close: %s, want 503", resp.Status)
	}
}

func TestTooManyViewers(t *testing.T) {
	h := Must(Config{MaxViewers: 2})
	srv := serve(t, h)
	a, b := openStream(t, srv.URL), openStream(t, srv.URL)
	defer a.close()
	defer b.close()
	resp, err := http.Get(srv.URL + "?format=events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a third viewer: %s (Retry-After %q), want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
}

func TestSlowViewerLosesFramesNotOthers(t *testing.T) {
	h := Must(Config{Interval: MinInterval})
	slow, err := h.hub.subscribe()
	if err != nil {
		t.Fatal(err)
	}
	fast, _ := h.hub.subscribe()
	defer h.Close()
	defer h.hub.unsubscribe(slow)
	defer h.hub.unsubscribe(fast)
	// The fast viewer reads 3*viewerBuffer frames, while the slow one reads
	// nothing: the sampler goes on regardless.
	var seqs []uint64
	for range 3 * viewerBuffer {
		var f jsonFrame
		decode(t, <-fast.frames, &f)
		seqs = append(seqs, f.Seq)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("the fast viewer missed frames: %v", seqs)
		}
	}
	h.hub.mu.Lock()
	dropped := slow.dropped
	h.hub.mu.Unlock()
	if dropped == 0 {
		t.Fatal("the slow viewer dropped nothing: the sampler waited for it")
	}
	// The slow viewer's buffer holds its first frames; then, having lost
	// some, it gets a full frame.
	for range viewerBuffer {
		<-slow.frames
	}
	var f jsonFrame
	decode(t, <-slow.frames, &f)
	if f.Type != "full" {
		t.Errorf("after losing frames the slow viewer gets a %s frame, want full", f.Type)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{Interval: time.Millisecond}, "Config.Interval"},
		{Config{History: time.Millisecond}, "Config.History"},
		{Config{History: 2 * time.Hour}, "Config.History"},
		{Config{MaxViewers: -1}, "Config.MaxViewers"},
		{Config{MaxPolicies: -1}, "Config.MaxPolicies"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Must does not panic on a bad Config")
		}
	}()
	Must(Config{MaxViewers: -1})
}

func TestUnknownFormatAndMethod(t *testing.T) {
	srv := serve(t, Must(Config{}))
	resp, _ := http.Get(srv.URL + "?format=xml")
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("?format=xml: %s", resp.Status)
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL, nil)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
		t.Errorf("DELETE: %s, Allow %q", resp.Status, resp.Header.Get("Allow"))
	}
}

func TestPageIsSelfContained(t *testing.T) {
	if len(pageSource) > 50<<10 {
		t.Errorf("the page is %d bytes, over 50 KB", len(pageSource))
	}
	srv := serve(t, Must(Config{}))
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := readAll(t, resp)
	for _, external := range []string{"http://", "https://", "//cdn", "@import"} {
		if i := strings.Index(body, external); i >= 0 && !strings.Contains(body[max(0, i-20):i+40], "www.w3.org/2000/svg") {
			t.Errorf("the page refers to something outside: %q", body[max(0, i-20):min(len(body), i+40)])
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	nonce := csp[strings.Index(csp, "'nonce-")+7:]
	nonce = nonce[:strings.IndexByte(nonce, '\'')]
	if !strings.Contains(body, `<script nonce="`+nonce+`">`) {
		t.Error("the page's script does not carry the CSP nonce")
	}
}

func TestPipelineLatencyFromTheMetricReader(t *testing.T) {
	o := oteltest.New()
	p := policy.NewPipeline("latency-pipeline").WithTelemetry(o.Telemetry)
	h := Must(Config{MetricReader: o.Reader})
	srv := serve(t, h)
	getJSON(t, srv.URL) // the first collection: the baseline
	for range 50 {
		p.Execute(context.Background(), func(context.Context) error { time.Sleep(2 * time.Millisecond); return nil })
	}
	for range 10 {
		p.Execute(context.Background(), fail)
	}
	time.Sleep(historyStep) // the view collects once a second
	pv := find(t, getJSON(t, srv.URL), "pipeline", "latency-pipeline")
	p50, _ := pv.Fields["p50_s"].(float64)
	p99, _ := pv.Fields["p99_s"].(float64)
	if p50 < 0.001 || p50 > 0.01 || p99 < p50 {
		t.Errorf("p50 %v, p99 %v: want p50 between 1ms and 10ms, p99 above it", p50, p99)
	}
	rates, _ := pv.Fields["rates"].(map[string]any)
	okRate, _ := rates["ok"].(float64)
	failRate, _ := rates["*errors.errorString"].(float64)
	if okRate <= 0 || failRate <= 0 || math.Abs(okRate/failRate-5) > 0.1 {
		t.Errorf("rates %v: want ok five times *errors.errorString", rates)
	}
}

func TestQuantile(t *testing.T) {
	h := &histogram{bounds: []float64{1, 2, 4}, counts: []uint64{0, 10, 0, 0}, total: 10}
	if q := quantile(h, 0.5); q != 1.5 {
		t.Errorf("p50 = %v, want 1.5 (the middle of the bucket (1,2])", q)
	}
	h = &histogram{bounds: []float64{1, 2, 4}, counts: []uint64{0, 0, 0, 5}, total: 5}
	if q := quantile(h, 0.99); q != 4 {
		t.Errorf("p99 in the overflow bucket = %v, want the last bound", q)
	}
}

func TestReopeningBetweenSamplesShowsTheHalfOpenStay(t *testing.T) {
	h := newHub(settings{maxViewers: 1, historyPoints: 10, interval: DefaultInterval})
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	view := func(state string, since, until time.Time) []policyView {
		return []policyView{{ID: 7, Kind: "breaker", Name: "b", State: state, Since: &since, breakUntil: until}}
	}
	h.noteTransitions(view("closed", t0, time.Time{}))
	got := h.noteTransitions(view("open", t0.Add(time.Second), t0.Add(3*time.Second)))
	if len(got) != 1 || got[0].From != "closed" || got[0].To != "open" || !got[0].At.Equal(t0.Add(time.Second)) {
		t.Fatalf("closed → open: %+v", got)
	}
	if got := h.noteTransitions(view("open", t0.Add(time.Second), t0.Add(3*time.Second))); len(got) != 0 {
		t.Fatalf("no change: %+v", got)
	}
	// Half-open at 3s, a trial failed at 3.1s: the sampler only sees a new
	// break.
	got = h.noteTransitions(view("open", t0.Add(3100*time.Millisecond), t0.Add(5*time.Second)))
	if len(got) != 2 ||
		got[0].From != "open" || got[0].To != "half_open" || !got[0].At.Equal(t0.Add(3*time.Second)) ||
		got[1].From != "half_open" || got[1].To != "open" || !got[1].At.Equal(t0.Add(3100*time.Millisecond)) {
		t.Fatalf("reopened between samples: %+v", got)
	}
	if n := len(h.transitions); n != 3 {
		t.Errorf("the hub remembers %d transitions, want 3", n)
	}
}

func TestMaxPoliciesBoundsTheView(t *testing.T) {
	bs := make([]any, 5)
	for i := range bs {
		bs[i] = newBreaker(t, "bounded", time.Second)
	}
	srv := serve(t, Must(Config{MaxPolicies: 2}))
	resp, err := http.Get(srv.URL + "?format=json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Policies []policyView
		Omitted  int
	}
	decode(t, []byte(readAll(t, resp)), &f)
	resp.Body.Close()
	if len(f.Policies) != 2 || f.Omitted < 5-2 {
		t.Errorf("%d policies shown, %d omitted; want 2 shown and at least 3 omitted", len(f.Policies), f.Omitted)
	}
	runtime.KeepAlive(bs)
}

// limiter stands for a kind of policy the view does not know.
type limiter struct {
	name  string
	limit int
	_     [64]byte
}

func (l *limiter) Name() string { return l.name }

func TestUnknownKindsShowTheirFacts(t *testing.T) {
	l := &limiter{name: "generic-limiter", limit: 42}
	inventory.Add(l, "limiter", func(l *limiter) inventory.Facts {
		return inventory.Facts{"limit": l.limit, "max_wait": 1500 * time.Millisecond, "state": "throttling", "level": "warn"}
	})
	srv := serve(t, Must(Config{}))
	v := find(t, getJSON(t, srv.URL), "limiter", "generic-limiter")
	if v.State != "throttling" || v.Level != levelWarn || v.Fields["limit"] != 42.0 || v.Fields["max_wait_s"] != 1.5 {
		t.Errorf("limiter: %+v", v)
	}
	if _, ok := v.Fields["state"]; ok {
		t.Error("the state fact is shown as a field too")
	}
	runtime.KeepAlive(l)
}
