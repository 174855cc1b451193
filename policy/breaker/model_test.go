package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/internal/fuzzbytes"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/telemetry"
)

// The model-based test drives a real Breaker and a small reference model of
// the state machine docs/design.md specifies with the same random sequence of
// operations — calls that succeed, fail, are slow, are cancelled, panic or
// end with an error IsIgnored accepts;
// time passing (to the very instant a break ends, and just before);
// Isolate; Reset; and calls admitted with Allow that finish later with
// Done or Release, possibly in a later state — on synctest's clock. After every step it
// checks that the breaker's State, every field of its Metrics, its
// rejections (and their RetryAfter) and the transitions given to
// OnStateChange are the model's.
//
// The model knows nothing of the breaker's internals: a count window is the
// list of the last WindowSize outcomes of the closed period, a time window
// the list of its outcomes whose bucket (time since the breaker was built,
// divided by WindowDuration/10) is one of the last ten.

// modelSequences is how many random sequences plain go test checks.
const modelSequences = 3000

func TestBreakerModel(t *testing.T) {
	n := modelSequences
	if testing.Short() {
		n /= 10
	}
	rng := rand.New(rand.NewPCG(2026, 8))
	for i := range n {
		data := make([]byte, 8+rng.IntN(160))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if !modelRun(t, data) {
			t.Fatalf("sequence %d of %d failed", i, n)
		}
	}
}

// FuzzBreakerModel runs the model-based test on sequences the fuzzer
// makes.
func FuzzBreakerModel(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 1, 1, 1, 5, 0, 0, 0})
	f.Add([]byte{0x05, 0x02, 0x04, 0x00, 0x01, 0x02, 0x01, 1, 7, 1, 1, 4, 4, 8, 0, 9, 1, 0, 0})
	f.Add([]byte{0x02, 0x03, 0x03, 0x02, 0x00, 0x03, 0x12, 7, 7, 1, 1, 1, 4, 4, 8, 1, 8, 0, 6, 0})
	f.Fuzz(func(t *testing.T, data []byte) { modelRun(t, data) })
}

// modelConfig is a breaker's configuration, as the model reads it: every
// default applied.
type modelConfig struct {
	cfg               breaker.Config
	size              int           // count window; 0 for a time window
	width             time.Duration // time window: a bucket's span
	minimumThroughput int
	failureRatio      float64
	slowCall          time.Duration // 0: calls are not timed
	slowCallRatio     float64
	consecutive       int
	breakFor          func(opens int) time.Duration
	successThreshold  int
	halfOpenCalls     int
}

var (
	modelRatios = []float64{0, 0.25, 0.5, 0.75, 1, 1.0 / 3}
	modelBreaks = []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 40 * time.Millisecond}
)

func modelNewConfig(r *fuzzbytes.Reader) modelConfig {
	var m modelConfig
	b := r.Next()
	if b&1 == 0 {
		m.size = 1 + b>>1%8
		m.cfg.WindowSize = m.size
	} else {
		m.width = time.Duration(1+b>>1%4) * 10 * time.Millisecond
		m.cfg.WindowDuration = breaker.Buckets * m.width
	}

	b = r.Next()
	if b%5 != 0 {
		m.cfg.MinimumThroughput = 1 + b%6
		if m.size > 0 {
			m.cfg.MinimumThroughput = 1 + b%m.size
		}
	}
	m.minimumThroughput = m.cfg.MinimumThroughput
	if m.minimumThroughput == 0 {
		m.minimumThroughput = breaker.DefaultMinimumThroughput
		if m.size > 0 {
			m.minimumThroughput = min(m.size, breaker.DefaultMinimumThroughput)
		}
	}

	m.cfg.FailureRatio = modelRatios[r.Next()%len(modelRatios)]
	m.failureRatio = m.cfg.FailureRatio
	if m.failureRatio == 0 {
		m.failureRatio = breaker.DefaultFailureRatio
	}

	m.cfg.ConsecutiveFailures = r.Next() % 4
	m.consecutive = m.cfg.ConsecutiveFailures

	if b := r.Next(); b%3 != 0 {
		m.cfg.SlowCallDuration = 30 * time.Millisecond
		m.cfg.SlowCallRatio = modelRatios[b/3%len(modelRatios)]
		m.slowCall = m.cfg.SlowCallDuration
		m.slowCallRatio = m.cfg.SlowCallRatio
		if m.slowCallRatio == 0 {
			m.slowCallRatio = breaker.DefaultSlowCallRatio
		}
	}

	b = r.Next()
	switch b % 4 {
	case 3: // growing breaks, and one of zero
		m.cfg.BreakDurationFunc = func(opens int) time.Duration {
			if opens == 2 {
				return 0
			}
			return time.Duration(opens) * 50 * time.Millisecond
		}
		m.breakFor = m.cfg.BreakDurationFunc
	default:
		m.cfg.BreakDuration = modelBreaks[b%4]
		m.breakFor = func(int) time.Duration { return m.cfg.BreakDuration }
	}

	b = r.Next()
	m.cfg.SuccessThreshold = b % 4
	m.cfg.HalfOpenCalls = b / 4 % 4
	m.successThreshold = m.cfg.SuccessThreshold
	if m.successThreshold == 0 {
		m.successThreshold = breaker.DefaultSuccessThreshold
	}
	m.halfOpenCalls = m.cfg.HalfOpenCalls
	if m.halfOpenCalls == 0 {
		m.halfOpenCalls = m.successThreshold
	}
	return m
}

// modelOutcome is an outcome in the model's window.
type modelOutcome struct {
	failed, slow bool
	dur          time.Duration
	bucket       int64 // time window: the bucket it fell in
}

// model is the reference state machine. Times are offsets from when the
// breaker was built.
type model struct {
	c           modelConfig
	state       breaker.State
	episode     int // changes at every transition, and at Reset
	since       time.Duration
	until       time.Duration // Open: end of the break
	opens       int
	consec      int
	window      []modelOutcome
	inFlight    int // trial calls admitted and not done, of any half-open period
	successes   int // HalfOpen: trial calls of this period succeeded
	total       int64
	rejected    int64
	lastFailure time.Duration
	failed      bool
	transitions []string
}

func (m *model) enter(s breaker.State, since time.Duration) {
	if s != m.state {
		m.transitions = append(m.transitions, m.state.String()+"->"+s.String())
	}
	m.state, m.since = s, since
	m.episode++
	m.successes = 0 // trial calls still running stay in flight
}

// advance makes an open breaker whose break is over half-open.
func (m *model) advance(now time.Duration) {
	if m.state == breaker.Open && now >= m.until {
		m.enter(breaker.HalfOpen, m.until)
	}
}

func (m *model) open(now time.Duration) {
	m.opens++
	d := max(m.c.breakFor(m.opens), 0)
	m.enter(breaker.Open, now)
	m.until = now + d
}

func (m *model) close(now time.Duration) {
	m.opens, m.consec = 0, 0
	since := now
	if m.state == breaker.Closed {
		since = m.since
	}
	m.enter(breaker.Closed, since)
	m.window = nil
}

// modelAdmission is the model's answer to a call asking to run.
type modelAdmission struct {
	admitted bool
	episode  int
	state    breaker.State // admitted under
	start    time.Duration
	hint     time.Duration // rejected while open: the rest of the break
	hinted   bool
}

func (m *model) admit(now time.Duration) modelAdmission {
	m.advance(now)
	a := modelAdmission{episode: m.episode, state: m.state, start: now}
	switch m.state {
	case breaker.Closed:
		a.admitted = true
	case breaker.HalfOpen:
		if m.inFlight < m.c.halfOpenCalls {
			m.inFlight++
			a.admitted = true
		}
	case breaker.Open:
		a.hint, a.hinted = m.until-now, true
	}
	if !a.admitted {
		m.rejected++
	}
	return a
}

// done records the outcome of a call admitted as a said.
func (m *model) done(now time.Duration, a modelAdmission, failed bool) {
	m.total++
	if failed {
		m.lastFailure, m.failed = now, true
	}
	if a.state == breaker.HalfOpen {
		m.inFlight-- // late or not, a trial call ends
	}
	if a.episode != m.episode {
		return // late: counted, nothing more
	}
	slow := m.c.slowCall > 0 && now-a.start > m.c.slowCall
	if a.state == breaker.HalfOpen {
		if failed || slow {
			m.open(now)
		} else if m.successes++; m.successes >= m.c.successThreshold {
			m.close(now)
		}
		return
	}
	o := modelOutcome{failed: failed, slow: slow}
	if m.c.slowCall > 0 {
		o.dur = now - a.start
	}
	if m.c.size > 0 {
		m.window = append(m.window, o)
		if len(m.window) > m.c.size {
			m.window = m.window[1:]
		}
	} else {
		o.bucket = int64(now / m.c.width)
		m.window = append(m.window, o)
	}
	decide := slow
	if failed {
		m.consec++
		decide = true
	} else {
		m.consec = 0
	}
	if decide && m.trips(now) {
		m.open(now)
	}
}

// ignore ends a call admitted as a said whose outcome counts neither way:
// it is counted, and gives a trial permit back.
func (m *model) ignore(a modelAdmission) {
	m.total++
	if a.state == breaker.HalfOpen {
		m.inFlight--
	}
}

func (m *model) sums(now time.Duration) (calls, failures, slow int, durSum time.Duration) {
	cur := int64(0)
	if m.c.width > 0 {
		cur = int64(now / m.c.width)
	}
	for _, o := range m.window {
		if m.c.width > 0 && o.bucket <= cur-breaker.Buckets {
			continue
		}
		calls++
		if o.failed {
			failures++
		}
		if o.slow {
			slow++
		}
		durSum += o.dur
	}
	return calls, failures, slow, durSum
}

func (m *model) trips(now time.Duration) bool {
	if m.c.consecutive > 0 && m.consec >= m.c.consecutive {
		return true
	}
	calls, failures, slow, _ := m.sums(now)
	if calls < m.c.minimumThroughput || calls == 0 {
		return false
	}
	return float64(failures)/float64(calls) >= m.c.failureRatio ||
		m.c.slowCall > 0 && float64(slow)/float64(calls) >= m.c.slowCallRatio
}

func (m *model) metrics(now time.Duration, t0 time.Time) breaker.Metrics {
	m.advance(now)
	calls, failures, slow, durSum := m.sums(now)
	want := breaker.Metrics{
		State:               m.state,
		Calls:               calls,
		Failures:            failures,
		SlowCalls:           slow,
		ConsecutiveFailures: m.consec,
		TotalCalls:          m.total,
		Rejected:            m.rejected,
		StateSince:          t0.Add(m.since),
	}
	if calls > 0 {
		want.FailureRatio = float64(failures) / float64(calls)
		want.SlowCallRatio = float64(slow) / float64(calls)
		if m.c.slowCall > 0 {
			want.AverageDuration = durSum / time.Duration(calls)
		}
	}
	if m.failed {
		want.LastFailure = t0.Add(m.lastFailure)
	}
	return want
}

// modelPending is a call admitted with Allow, not yet done.
type modelPending struct {
	permit breaker.Permit
	a      modelAdmission
}

// modelPanic is what a panicking call panics with.
type modelPanic struct{ step int }

// modelRun runs the sequence data describes, and reports whether the
// breaker followed the model throughout.
func modelRun(t *testing.T, data []byte) (ok bool) {
	ok = true
	synctest.Test(t, func(t *testing.T) {
		r := fuzzbytes.New(data)
		c := modelNewConfig(r)
		m := &model{c: c}
		var got []string
		cfg := c.cfg
		cfg.Telemetry = telemetry.Disabled()
		cfg.IsIgnored = isInvalid
		cfg.OnStateChange = func(from, to breaker.State) { got = append(got, from.String()+"->"+to.String()) }
		t0 := time.Now()
		b, err := breaker.New(cfg)
		if err != nil {
			t.Errorf("New(%+v): %v", c.cfg, err)
			ok = false
			return
		}
		now := func() time.Duration { return time.Since(t0) }

		var log []string
		fail := func(format string, args ...any) {
			if !ok {
				return // one report per sequence
			}
			t.Errorf("input %q\nconfig %+v (window %d/%v, min %d)\nsteps:\n  %s\n%s", data, c.cfg, c.size, c.width*breaker.Buckets,
				c.minimumThroughput, strings.Join(log, "\n  "), fmt.Sprintf(format, args...))
			ok = false
		}

		var pending []modelPending
		errFn := errors.New("down")
		for step := 0; step < 64 && !r.Done() && ok; step++ {
			op, arg := r.Next(), r.Next()
			switch op % 16 {
			case 0, 1, 2, 3, 4, 5, 6: // a call through Execute
				d := []time.Duration{0, 0, 5 * time.Millisecond, 30 * time.Millisecond, 31 * time.Millisecond, 80 * time.Millisecond}[arg%6]
				kind := []string{"ok", "fail", "ok", "fail", "canceled", "panic", "invalid"}[op%16]
				log = append(log, fmt.Sprintf("t=%v Execute %s taking %v", now(), kind, d))
				a := m.admit(now())
				ran := false
				var recovered any
				err := func() (err error) {
					defer func() { recovered = recover() }()
					return b.Execute(context.Background(), func(ctx context.Context) error {
						ran = true
						time.Sleep(d)
						switch kind {
						case "fail":
							return errFn
						case "canceled":
							return context.Canceled
						case "invalid":
							return errInvalid
						case "panic":
							panic(modelPanic{step})
						}
						return nil
					})
				}()
				if ran != a.admitted {
					fail("ran: %v, model admits: %v", ran, a.admitted)
					break
				}
				if !ran {
					modelCheckRejection(fail, err, a)
					break
				}
				if kind == "invalid" {
					m.ignore(a)
				} else {
					m.done(now(), a, kind == "fail" || kind == "panic")
				}
				switch want := map[string]error{"ok": nil, "fail": errFn, "canceled": context.Canceled, "invalid": errInvalid}[kind]; {
				case kind == "panic" && recovered != (modelPanic{step}):
					fail("panic came back as %v", recovered)
				case kind != "panic" && (recovered != nil || err != want):
					fail("returned %v (panic %v), want %v", err, recovered, want)
				}
			case 7, 8: // a call admitted now, done later
				log = append(log, fmt.Sprintf("t=%v Allow", now()))
				a := m.admit(now())
				p, err := b.Allow()
				if (err == nil) != a.admitted {
					fail("Allow: %v, model admits: %v", err, a.admitted)
					break
				}
				if err != nil {
					modelCheckRejection(fail, err, a)
					break
				}
				pending = append(pending, modelPending{p, a})
			case 9, 10: // a call admitted earlier finishes
				if len(pending) == 0 {
					break
				}
				i := arg % len(pending)
				kind := []string{"ok", "fail", "canceled", "invalid", "release"}[arg/8%5]
				log = append(log, fmt.Sprintf("t=%v Done(%s) of the call allowed at %v", now(), kind, pending[i].a.start))
				var err error
				switch kind {
				case "fail":
					err = errFn
				case "canceled":
					err = context.Canceled
				case "invalid":
					err = errInvalid
				}
				if kind == "release" {
					pending[i].permit.Release()
				} else {
					pending[i].permit.Done(err)
				}
				// A permit from Allow has no context: context.Canceled
				// counts neither way, as an error IsIgnored accepts does.
				if kind == "canceled" || kind == "invalid" || kind == "release" {
					m.ignore(pending[i].a)
				} else {
					m.done(now(), pending[i].a, kind == "fail")
				}
				pending = append(pending[:i], pending[i+1:]...)
			case 11, 12, 13: // time passes
				var d time.Duration
				switch arg % 6 {
				case 0:
					d = time.Millisecond
				case 1:
					d = 10 * time.Millisecond
				case 2:
					d = 31 * time.Millisecond
				case 3:
					d = 200 * time.Millisecond
				case 4, 5: // to the end of the break, or just before it
					if m.state == breaker.Open {
						d = m.until - now() - time.Duration(arg%6-4)
					}
				}
				log = append(log, fmt.Sprintf("t=%v sleep %v", now(), d))
				time.Sleep(d)
			case 14:
				if arg%4 != 0 { // isolated, it rejects everything until Reset: rarely
					break
				}
				log = append(log, fmt.Sprintf("t=%v Isolate", now()))
				b.Isolate()
				m.advance(now())
				if m.state != breaker.Isolated {
					m.enter(breaker.Isolated, now())
				}
			case 15:
				log = append(log, fmt.Sprintf("t=%v Reset", now()))
				b.Reset()
				m.advance(now())
				m.close(now())
			}
			if !ok {
				break
			}

			want := m.metrics(now(), t0)
			if s := b.State(); s != want.State {
				fail("State() = %v, model %v", s, want.State)
			}
			if gotM := b.Metrics(); !modelSameMetrics(gotM, want) {
				fail("Metrics()\n  got  %+v\n  want %+v", gotM, want)
			}
			if strings.Join(got, " ") != strings.Join(m.transitions, " ") {
				fail("OnStateChange got %v\nmodel %v", got, m.transitions)
			}
		}
		for i := range pending {
			pending[i].permit.Done(nil) // every permit is done
		}
	})
	return ok
}

// modelCheckRejection checks a rejection against the model's.
func modelCheckRejection(fail func(string, ...any), err error, a modelAdmission) {
	if !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, policy.ErrRejected) || telemetry.ErrorType(err) != "circuit_open" {
		fail("rejected with %v", err)
	}
	hint, hinted := policy.RetryAfter(err)
	if hinted != a.hinted || hint != a.hint {
		fail("rejection's RetryAfter %v (%v), model %v (%v)", hint, hinted, a.hint, a.hinted)
	}
}

func modelSameMetrics(got, want breaker.Metrics) bool {
	return got.State == want.State && got.Calls == want.Calls && got.Failures == want.Failures &&
		got.SlowCalls == want.SlowCalls && got.FailureRatio == want.FailureRatio &&
		got.SlowCallRatio == want.SlowCallRatio && got.ConsecutiveFailures == want.ConsecutiveFailures &&
		got.TotalCalls == want.TotalCalls && got.Rejected == want.Rejected &&
		got.AverageDuration == want.AverageDuration && got.LastFailure.Equal(want.LastFailure) &&
		got.StateSince.Equal(want.StateSince)
}

// TestLateResultDoesNotShiftCountWindow: a count window holds the last
// WindowSize outcomes of its closed period, and a late result — of a call
// admitted before the breaker opened, or before Reset — "never changes the
// state, the window, or the length of a break". Here three failures in a row
// fill a window of three with failures, which must open the breaker at
// FailureRatio 1; but the late call, finishing between the second and the
// third, takes a position in the window's ring without recording, so the
// third failure replaces the first and the window holds two outcomes.
func TestLateResultDoesNotShiftCountWindow(t *testing.T) {
	for _, late := range []string{"ok", "fail"} {
		t.Run(late, func(t *testing.T) {
			b := newBreaker(t, breaker.Config{WindowSize: 3, MinimumThroughput: 3, FailureRatio: 1})
			p, err := b.Allow()
			if err != nil {
				t.Fatal(err)
			}
			b.Reset() // p is now late
			_ = b.Execute(context.Background(), fail)
			_ = b.Execute(context.Background(), fail)
			if late == "ok" {
				p.Done(nil)
			} else {
				p.Done(errDown)
			}
			_ = b.Execute(context.Background(), fail)
			m := b.Metrics()
			if m.Calls != 3 || m.Failures != 3 || m.State != breaker.Open {
				t.Errorf("after 3 failures in a window of 3 and a late result: %d calls, %d failures, %v; want 3, 3, open", m.Calls, m.Failures, m.State)
			}
		})
	}
}
