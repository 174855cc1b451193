package live

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// viewerBuffer is how many frames may wait for one viewer. A viewer further
// behind loses frames: the sampler never waits for it, and sends it a full
// frame as soon as there is room again.
const viewerBuffer = 4

// maxTransitions is how many state changes the hub remembers, all policies
// together.
const maxTransitions = 200

var (
	errClosed         = errors.New("palisade/live: the handler is closed")
	errTooManyViewers = errors.New("palisade/live: too many viewers")
)

// hub is one handler's sampler and viewers. The sampler runs on a goroutine
// of its own only while at least one viewer is connected: it samples every
// policy each interval, keeps the sparklines and the transitions, and offers
// each viewer a frame without ever waiting for one.
type hub struct {
	cfg     settings
	metrics *pipelineMetrics // nil without a MetricReader

	mu      sync.Mutex
	viewers map[*viewer]struct{}
	stop    chan struct{} // closed to stop the running sampler; nil when none runs
	done    chan struct{} // closed when the last sampler started has returned
	closed  bool

	// The sampler's state, kept between runs; guarded by mu.
	seq         uint64
	last        map[uint64]stateMark // each policy's state at the last sample
	history     map[uint64]*ring     // each policy's sparkline
	lastPoint   time.Time            // when the last sparkline point was taken
	transitions []transitionView     // the last maxTransitions, oldest first
}

// viewer is one connected event stream.
type viewer struct {
	frames   chan []byte
	needFull bool // guarded by hub.mu: the viewer missed a frame, or has had none
	dropped  int  // guarded by hub.mu
}

type stateMark struct {
	state string
	since time.Time
	until time.Time // a breaker's break end, while open
}

// transitionView is one state change seen by the sampler.
type transitionView struct {
	ID   uint64    `json:"id"`
	Kind string    `json:"kind"`
	Name string    `json:"name"`
	From string    `json:"from"`
	To   string    `json:"to"`
	At   time.Time `json:"at"` // when the policy entered To, by its own clock
}

// point is one sparkline value: [unix seconds, value in [0,1], level].
type point struct {
	t     int64
	v     float64
	level string
}

func (p point) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 32)
	b = append(b, '[')
	b = strconv.AppendInt(b, p.t, 10)
	b = append(b, ',')
	b = strconv.AppendFloat(b, round(p.v), 'g', -1, 64)
	b = append(b, ',', '"')
	b = append(b, p.level...)
	return append(b, '"', ']'), nil
}

// ring is a bounded sparkline.
type ring struct {
	points []point
	next   int
	full   bool
}

func (r *ring) add(p point) {
	if !r.full && len(r.points) < cap(r.points) {
		r.points = append(r.points, p)
		r.full = len(r.points) == cap(r.points)
		return
	}
	r.points[r.next] = p
	r.next = (r.next + 1) % len(r.points)
}

func (r *ring) all() []point {
	out := make([]point, 0, len(r.points))
	out = append(out, r.points[r.next:]...)
	return append(out, r.points[:r.next]...)
}

// frame is what a viewer receives: a full frame carries every sparkline
// and the recent transitions, a delta frame only what is new since the
// last frame.
type frame struct {
	Type         string             `json:"type"` // "full" or "delta"
	Seq          uint64             `json:"seq"`
	Time         time.Time          `json:"time"`
	HistoryStepS float64            `json:"history_step_s"`
	HistoryS     float64            `json:"history_s"` // how far back sparklines go
	Policies     []policyView       `json:"policies"`
	Omitted      int                `json:"omitted,omitempty"` // policies beyond Config.MaxPolicies, not shown
	Transitions  []transitionView   `json:"transitions"`
	History      map[uint64][]point `json:"history"`
}

func newHub(cfg settings) *hub {
	h := &hub{
		cfg:     cfg,
		viewers: make(map[*viewer]struct{}),
		last:    make(map[uint64]stateMark),
		history: make(map[uint64]*ring),
	}
	if cfg.metricReader != nil {
		h.metrics = newPipelineMetrics(cfg.metricReader, cfg.logger)
	}
	return h
}

// subscribe adds a viewer, starting the sampler if it is the first.
func (h *hub) subscribe() (*viewer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errClosed
	}
	if len(h.viewers) >= h.cfg.maxViewers {
		return nil, errTooManyViewers
	}
	v := &viewer{frames: make(chan []byte, viewerBuffer), needFull: true}
	h.viewers[v] = struct{}{}
	if h.stop == nil {
		stop, done, prev := make(chan struct{}), make(chan struct{}), h.done
		h.stop, h.done = stop, done
		go h.run(stop, prev, done)
	}
	return v, nil
}

// unsubscribe removes a viewer, stopping the sampler if it was the last.
func (h *hub) unsubscribe(v *viewer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.viewers, v)
	if len(h.viewers) == 0 && h.stop != nil {
		close(h.stop)
		h.stop = nil
	}
}

// close stops the sampler and refuses new viewers; the streams, which
// watch closing, end on their own. It waits for the sampler to return.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	if h.stop != nil {
		close(h.stop)
		h.stop = nil
	}
	done := h.done
	h.mu.Unlock()
	if done != nil {
		<-done
	}
}

// run is the sampler: one sample now, then one each interval, until stop is
// closed. It starts once the sampler before it (prev) has returned, so that
// two never run at once.
func (h *hub) run(stop, prev, done chan struct{}) {
	defer close(done)
	if prev != nil {
		<-prev
	}
	t := time.NewTicker(h.cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		default:
		}
		h.tick(time.Now())
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// tick takes one sample and offers it to every viewer.
func (h *hub) tick(now time.Time) {
	views, omitted := h.sample(now)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	newTransitions := h.noteTransitions(views)
	newPoints := h.notePoints(views, now)
	delta := h.encode(frame{
		Type: "delta", Seq: h.seq, Time: now.UTC(), HistoryStepS: historyStep.Seconds(),
		HistoryS: h.historyS(), Policies: views, Omitted: omitted, Transitions: newTransitions, History: newPoints,
	})
	var full []byte // built for the first viewer that needs it
	for v := range h.viewers {
		data := delta
		if v.needFull {
			if full == nil {
				full = h.encode(h.fullFrame(views, omitted, now))
			}
			data = full
		}
		select {
		case v.frames <- data:
			v.needFull = false
		default: // the viewer is behind: drop, and send it everything later
			v.needFull = true
			v.dropped++
		}
	}
}

// sample describes every policy, with the pipelines' latency when a
// MetricReader is set. A policy whose description panics (a user's
// OnStateChange called as a read observes the end of a break) is shown
// with the error, and logged.
func (h *hub) sample(now time.Time) ([]policyView, int) {
	views, omitted := sampleAll(now, h.cfg.maxPolicies, h.cfg.logger)
	if h.metrics != nil {
		h.metrics.annotate(views, now)
	}
	return views, omitted
}

// fullFrame is everything a new viewer needs. Called under mu.
func (h *hub) fullFrame(views []policyView, omitted int, now time.Time) frame {
	hist := make(map[uint64][]point, len(h.history))
	for id, r := range h.history {
		hist[id] = r.all()
	}
	return frame{
		Type: "full", Seq: h.seq, Time: now.UTC(), HistoryStepS: historyStep.Seconds(),
		HistoryS: h.historyS(), Policies: views, Omitted: omitted, Transitions: append([]transitionView(nil), h.transitions...), History: hist,
	}
}

// noteTransitions compares each policy's state with the last sample's and
// records the changes. A policy that changed state and changed back
// between two samples shows as a change to the same state, at the new
// time. Called under mu.
func (h *hub) noteTransitions(views []policyView) []transitionView {
	var out []transitionView
	seen := make(map[uint64]bool, len(views))
	for _, v := range views {
		seen[v.ID] = true
		if v.State == "" {
			continue
		}
		var since time.Time
		if v.Since != nil {
			since = *v.Since
		}
		cur := stateMark{state: v.State, since: since, until: v.breakUntil}
		prev, known := h.last[v.ID]
		h.last[v.ID] = cur
		if !known || prev.state == cur.state && prev.since.Equal(cur.since) {
			continue
		}
		at := since
		if at.IsZero() {
			at = time.Now().UTC()
		}
		add := func(from, to string, at time.Time) {
			t := transitionView{ID: v.ID, Kind: v.Kind, Name: v.Name, From: from, To: to, At: at}
			out = append(out, t)
			h.transitions = append(h.transitions, t)
		}
		if v.Kind == "breaker" && prev.state == "open" && cur.state == "open" && !prev.until.IsZero() {
			// Reopened between two samples: a breaker leaves a break only
			// for half-open (Reset or Isolate would have left another
			// state), which began when the break ended.
			add("open", "half_open", prev.until)
			add("half_open", "open", at)
			continue
		}
		add(prev.state, cur.state, at)
	}
	if n := len(h.transitions) - maxTransitions; n > 0 {
		h.transitions = append(h.transitions[:0], h.transitions[n:]...)
	}
	for id := range h.last {
		if !seen[id] {
			delete(h.last, id)
		}
	}
	return out
}

// notePoints adds a sparkline point per policy once per historyStep.
// Called under mu.
func (h *hub) notePoints(views []policyView, now time.Time) map[uint64][]point {
	if now.Sub(h.lastPoint) < historyStep {
		return nil
	}
	h.lastPoint = now
	out := make(map[uint64][]point, len(views))
	seen := make(map[uint64]bool, len(views))
	for _, v := range views {
		seen[v.ID] = true
		r := h.history[v.ID]
		if r == nil {
			r = &ring{points: make([]point, 0, h.cfg.historyPoints)}
			h.history[v.ID] = r
		}
		p := point{t: now.Unix(), v: v.spark, level: v.Level}
		r.add(p)
		out[v.ID] = []point{p}
	}
	for id := range h.history {
		if !seen[id] {
			delete(h.history, id)
		}
	}
	return out
}

func (h *hub) historyS() float64 {
	return (time.Duration(h.cfg.historyPoints) * historyStep).Seconds()
}

func (h *hub) encode(f frame) []byte {
	b, err := json.Marshal(f)
	if err != nil { // a value that cannot be encoded: a bug, shown rather than hidden
		h.cfg.logger.Error("palisade/live: encoding a frame", slog.Any("error", err))
		b = fmt.Appendf(nil, `{"type":"error","error":%q}`, err.Error())
	}
	return b
}

// snapshot returns the current state for the JSON twin: a fresh sample,
// with the transitions and sparklines kept so far.
func (h *hub) snapshot(now time.Time) frame {
	views, omitted := h.sample(now)
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fullFrame(views, omitted, now)
}
