package policy_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/palisade-go/palisade/internal/fuzzbytes"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/chaos"
	"github.com/palisade-go/palisade/policy/fallback"
	"github.com/palisade-go/palisade/policy/hedge"
	"github.com/palisade-go/palisade/policy/limiter"
	"github.com/palisade-go/palisade/policy/ratelimit"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/throttle"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// FuzzPipeline builds, from its input, a random composition of real
// policies — timeouts, retries (some sharing a budget), bulkheads, breakers,
// nested pipelines and pass-through policies, in any order and nesting — and
// runs a few concurrent calls through it on synctest's clock, each with its
// own script of function outcomes (success, error, waiting for the context,
// sleeping, panicking, a permanent error) and its own caller deadline.
//
// Every policy is wrapped in an observer that sees what it was given and
// what it returned, and checks the contract each kind of policy keeps:
//
//   - a policy runs its function at most once per attempt (once for a
//     timeout, bulkhead, breaker or pass-through, at most MaxAttempts times
//     for a retry), never twice at once, never after returning, and never
//     again after a success or a panic;
//   - an error a policy does not replace comes back as the same value; a
//     timeout's wraps the function's, a retry's wraps the last attempt's;
//   - a call refused without running its function gets the policy's
//     rejection, which matches policy.ErrRejected (a bulkhead waiter whose
//     context ended gets that context's error instead), and nothing else
//     matches policy.ErrRejected;
//   - a panic goes through every policy unchanged and is never swallowed;
//   - afterwards no bulkhead holds a slot or a waiter, no breaker holds a
//     half-open permit, every breaker's Metrics counts the calls and
//     rejections the observers saw, and the OpenTelemetry counters of
//     rejections, retries, timeouts and pipeline calls agree with the
//     observers' tallies.
func FuzzPipeline(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x03, 0x05, 0x0c, 0x00, 0x01, 0x02, 0x00, 0x01, 0x05, 0x04, 0x03})             // breaker, few calls
	f.Add([]byte{0x02, 0x01, 0x07, 0x02, 0x00, 0x05, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06}) // retry around bulkhead
	f.Add([]byte{0x03, 0x04, 0x02, 0x00, 0x01, 0x03, 0x8f, 0x02, 0x00, 0x05, 0x05, 0x05})       // nested pipeline
	// A reproducible corpus of random compositions, run by plain go test.
	rng := rand.New(rand.NewPCG(8, 2026))
	for range 300 {
		seed := make([]byte, 16+rng.IntN(64))
		for i := range seed {
			seed[i] = byte(rng.Uint32())
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		synctest.Test(t, func(t *testing.T) { fzRun(t, data) })
	})
}

// fzKind is a kind of node in a fuzzed composition.
type fzKind uint8

const (
	fzTimeout fzKind = iota
	fzRetry
	fzBulkhead
	fzBreaker
	fzPipeline
	fzPass
	fzRateLimit
	fzLimiter
	fzThrottle
	fzHedge    // concurrent attempts: the v2 core
	fzFallback // replaces failures
	fzChaos    // injects faults or latency
	fzKinds
)

var fzKindNames = [fzKinds]string{"timeout", "retry", "bulkhead", "breaker", "pipeline", "pass", "ratelimit", "limiter", "throttle", "hedge", "fallback", "chaos"}

// Outcomes of the fuzzed fallbacks and chaos policies.
var (
	errFzFallback = errors.New("fallback's replacement")
	errFzChaos    = errors.New("injected fault")
)

// fzWorld is one fuzz input's composition and what its observers counted.
type fzWorld struct {
	t         *testing.T
	reader    *sdkmetric.ManualReader
	tel       *telemetry.Telemetry
	budget    *budget.Budget
	observers []*fzObserver
	ids       atomic.Int64

	// concurrent is set when a hedge or an abandoning timeout is in the
	// composition: one call's attempts may then overlap and outlive it,
	// and functions do not panic (a panic of an attempt nobody waits for
	// any more crashes the program, by design; the policies' own tests
	// cover it). replaces is set when a fallback is: a call may succeed
	// although its function failed.
	concurrent, replaces bool

	mu sync.Mutex // guards the observers' tallies
}

// fzObserver wraps one policy of the composition.
type fzObserver struct {
	w        *fzWorld
	kind     fzKind
	name     string
	p        policy.Policy
	children []*fzObserver // a pipeline's policies

	timeout     time.Duration // fzTimeout
	abandon     bool          // fzTimeout
	to          *timeout.Timeout
	maxAttempts int           // fzRetry
	maxHedges   int           // fzHedge
	fbOutcome   error         // fzFallback: what its fallback returns
	chaosFault  bool          // fzChaos: a fault, else latency
	chaosDelay  time.Duration // fzChaos: its latency
	budgeted    bool          // fzRetry
	breakFor    time.Duration // fzBreaker
	bulkhead    *bulkhead.Bulkhead
	breaker     *breaker.Breaker
	limiter     *limiter.Limiter // fzLimiter

	// Tallies, guarded by w.mu.
	invocations int // Execute calls
	fnCalls     int // calls of the function it was given
	rejections  int // calls it refused: breaker, bulkhead, retry budget
	timeouts    int // timeout errors it made
	retries     int // retries it announced (attempts after the first, plus waits cut short)
	entered     int // runs of its function started, counted as they start
	uses        int // fzFallback: replacements
	injections  int // fzChaos: faults or latencies injected
}

func (w *fzWorld) node(r *fuzzbytes.Reader, depth int, kind fzKind) *fzObserver {
	o := &fzObserver{w: w, kind: kind, name: fmt.Sprintf("%s-%d", fzKindNames[kind], len(w.observers))}
	w.observers = append(w.observers, o)
	p := r.Next()
	switch kind {
	case fzTimeout:
		o.timeout = time.Duration(1+p%6) * 10 * time.Millisecond
		o.abandon = p&0x40 != 0
		w.concurrent = w.concurrent || o.abandon
		o.to = timeout.Must(timeout.Config{Name: o.name, Duration: o.timeout, Abandon: o.abandon, Telemetry: w.tel})
		o.p = o.to
	case fzHedge:
		o.maxHedges = 1 + p%3
		w.concurrent = true
		o.p = hedge.Must(hedge.Config{Name: o.name, Delay: time.Duration(1+p/3%4) * 5 * time.Millisecond,
			MaxHedges: o.maxHedges, MaxExtraRatio: 10, Telemetry: w.tel})
	case fzFallback:
		w.replaces = true
		if p&1 == 0 {
			// Distinct per fallback: nested ones must not be confused.
			o.fbOutcome = fmt.Errorf("%w of %s", errFzFallback, o.name)
		}
		o.p = fallback.Must(fallback.Config{Name: o.name, Telemetry: w.tel,
			Fallback: func(context.Context, error) error { return o.fbOutcome }})
	case fzChaos:
		cfg := chaos.Config{Name: o.name, Probability: 0.5, Telemetry: w.tel,
			Enabled: func(context.Context) bool { return true }}
		if o.chaosFault = p&1 == 0; o.chaosFault {
			cfg.Fault = errFzChaos
		} else {
			o.chaosDelay = time.Duration(1+p/2%3) * 5 * time.Millisecond
			cfg.Latency = o.chaosDelay
		}
		o.p = chaos.Must(cfg)
	case fzRetry:
		o.maxAttempts = 1 + p%4
		delay := time.Duration(p/4%3) * 10 * time.Millisecond
		cfg := retry.Config{
			Name:        o.name,
			MaxAttempts: o.maxAttempts,
			BackOff:     func() backoff.BackOff { return backoff.NewConstantBackOff(delay) },
			Telemetry:   w.tel,
		}
		if p&0x80 != 0 {
			cfg.Budget, o.budgeted = w.budget, true
		}
		o.p = retry.Must(cfg)
	case fzBulkhead:
		o.bulkhead = bulkhead.Must(bulkhead.Config{
			Name:          o.name,
			MaxConcurrent: 1 + p%3,
			MaxQueue:      p / 3 % 3,
			MaxWait:       time.Duration(p/9%3) * 15 * time.Millisecond,
			Telemetry:     w.tel,
		})
		o.p = o.bulkhead
	case fzBreaker:
		o.breakFor = time.Duration(1+p%3) * 20 * time.Millisecond
		cfg := breaker.Config{
			Name:                o.name,
			ConsecutiveFailures: 1 + p/3%3,
			WindowSize:          4,
			MinimumThroughput:   2,
			BreakDuration:       o.breakFor,
			SuccessThreshold:    1 + p/9%2,
			Telemetry:           w.tel,
		}
		if p&0x80 != 0 {
			cfg.SlowCallDuration = 15 * time.Millisecond
		}
		o.breaker = breaker.Must(cfg)
		o.p = o.breaker
	case fzPipeline:
		n := p % 3
		if depth == 0 {
			n = 1 + p%4
		}
		inner := make([]policy.Policy, n)
		for i := range inner {
			k := fzKind(r.Next() % int(fzKinds))
			if k == fzPipeline && depth >= 2 {
				k = fzPass
			}
			c := w.node(r, depth+1, k)
			o.children = append(o.children, c)
			inner[i] = c
		}
		o.p = policy.NewPipeline(o.name, inner...).WithTelemetry(w.tel)
	case fzPass:
		o.p = fzPassPolicy{}
	case fzRateLimit:
		o.p = ratelimit.Must(ratelimit.Config{Name: o.name, Rate: float64(20 + p%5*40), Burst: 1 + p/5%3,
			MaxWait: time.Duration(p/15%3) * 15 * time.Millisecond, Telemetry: w.tel})
	case fzLimiter:
		o.limiter = limiter.Must(limiter.Config{Name: o.name, Algorithm: limiter.Algorithm(p % 3), InitialLimit: 1 + p/3%3,
			MaxQueue: p / 9 % 3, MaxWait: time.Duration(p/27%3) * 15 * time.Millisecond, SampleWindow: 20 * time.Millisecond, MinSamples: 1, Telemetry: w.tel})
		o.p = o.limiter
	case fzThrottle:
		o.p = throttle.Must(throttle.Config{Name: o.name, Window: time.Second, K: 1 + float64(p%3)/2, Telemetry: w.tel})
	}
	return o
}

// attempts bounds how many times a call through o may run its function.
func (o *fzObserver) attempts() int {
	switch o.kind {
	case fzRetry:
		return o.maxAttempts
	case fzHedge:
		return 1 + o.maxHedges
	case fzPipeline:
		n := 1
		for _, c := range o.children {
			n *= c.attempts()
		}
		return n
	}
	return 1
}

type fzPassPolicy struct{}

func (fzPassPolicy) Execute(ctx context.Context, fn policy.Func) error { return fn(ctx) }

// fzPipeRec is how a pipeline's observer learns what the first policy of
// the pipeline returned: that policy's observer finds it in its context.
type fzPipeRec struct {
	out error
	set bool
}

type fzPipeKey struct{}

type fzResult struct {
	err      error
	panicked bool
	ended    bool          // the run has returned or panicked; else it still runs
	start    time.Duration // since Execute was called
}

// Execute runs the observed policy, checking what it does with fn.
// AttemptMode is that of the observed policy.
func (o *fzObserver) AttemptMode() policy.AttemptMode { return policy.ModeOf(o.p) }

func (o *fzObserver) Execute(ctx context.Context, fn policy.Func) error {
	w := o.w
	w.mu.Lock()
	o.invocations++
	w.mu.Unlock()
	parent, _ := ctx.Value(fzPipeKey{}).(*fzPipeRec)
	var rec *fzPipeRec
	if o.kind == fzPipeline {
		rec = &fzPipeRec{}
	}
	inner := context.WithValue(ctx, fzPipeKey{}, rec) // shadows parent's
	start := time.Now()

	var (
		mu       sync.Mutex
		results  []fzResult
		active   atomic.Int32
		returned atomic.Bool
	)
	concurrent := policy.ModeOf(o.p) == policy.ConcurrentAttempts
	wrapped := func(ctx context.Context) (err error) {
		w.mu.Lock()
		o.entered++
		w.mu.Unlock()
		// A concurrent policy may start an attempt on a goroutine of its
		// own that runs after its Execute returned, beside another.
		if returned.Load() && !concurrent {
			w.t.Errorf("%s: ran its function after returning", o.name)
		}
		if active.Add(1) != 1 && !concurrent {
			w.t.Errorf("%s: runs of its function overlap", o.name)
		}
		mu.Lock()
		i := len(results)
		if i > 0 && !concurrent && (results[i-1].panicked || results[i-1].err == nil) {
			w.t.Errorf("%s: ran its function again after %+v", o.name, results[i-1])
		}
		results = append(results, fzResult{panicked: true, start: time.Since(start)})
		mu.Unlock()
		if o.kind == fzRetry && retry.Attempt(ctx) != i+1 {
			w.t.Errorf("%s: attempt %d has Attempt(ctx) %d", o.name, i+1, retry.Attempt(ctx))
		}
		defer func() {
			mu.Lock()
			results[i].err = err
			results[i].ended = true
			mu.Unlock()
			active.Add(-1)
		}()
		err = fn(context.WithValue(ctx, fzPipeKey{}, (*fzPipeRec)(nil)))
		mu.Lock()
		results[i].panicked = false
		mu.Unlock()
		return err
	}

	panicking := true
	defer func() {
		returned.Store(true)
		if !panicking {
			return
		}
		mu.Lock()
		rs := results
		mu.Unlock()
		if len(rs) == 0 || !rs[len(rs)-1].panicked {
			w.t.Errorf("%s: panicked without its function panicking", o.name)
		}
		w.mu.Lock()
		o.fnCalls += len(rs)
		if o.kind == fzRetry {
			o.retries += len(rs) - 1
		}
		if o.kind == fzChaos && len(rs) > 0 && o.chaosDelay > 0 && rs[0].start >= o.chaosDelay {
			o.injections++ // its function panicked after the injected latency
		}
		w.mu.Unlock()
	}()
	out := o.p.Execute(inner, wrapped)
	panicking = false
	if parent != nil {
		parent.out, parent.set = out, true
	}
	mu.Lock()
	rs := slices.Clone(results) // as they were when it returned
	mu.Unlock()
	o.check(ctx, start, rs, rec, out)
	return out
}

// check checks what the policy returned, out, given what its function
// returned, rs, and counts it.
func (o *fzObserver) check(ctx context.Context, start time.Time, rs []fzResult, rec *fzPipeRec, out error) {
	fail := func(format string, args ...any) {
		o.w.t.Errorf("%s: %s (calls of its function: %+v)", o.name, fmt.Sprintf(format, args...), rs)
	}
	for _, r := range rs {
		switch {
		case r.panicked && r.ended:
			fail("returned %v although its function panicked", out)
		case !r.ended && policy.ModeOf(o.p) != policy.ConcurrentAttempts:
			fail("returned %v while its function ran", out)
		}
	}
	n := len(rs)
	var last error
	if n > 0 {
		last = rs[n-1].err
	}
	fzCheckMatches(o.w.t, o.name, out)

	w := o.w
	w.mu.Lock()
	defer w.mu.Unlock()
	o.fnCalls += n
	switch o.kind {
	case fzPass:
		if n != 1 || out != last {
			fail("returned %v", out)
		}
	case fzPipeline:
		if len(o.children) == 0 {
			if n != 1 || out != last {
				fail("empty pipeline returned %v", out)
			}
		} else if !rec.set || out != rec.out {
			fail("returned %v, its first policy %v (set: %v)", out, rec.out, rec.set)
		}
	case fzHedge:
		o.checkHedge(ctx, rs, out, fail)
	case fzFallback:
		o.checkFallback(rs, out, fail)
	case fzChaos:
		o.checkChaos(ctx, rs, out, fail)
	case fzTimeout:
		if n > 1 || n == 0 && !o.abandon {
			fail("ran its function %d times", n)
		}
		// An abandoning timeout may return before its function's goroutine
		// has started it.
		running := n == 0 || !rs[0].ended
		if te, ok := out.(*timeout.Error); ok && te.Abandoned && out != last {
			// (The function may have ended since, as it was abandoned.)
			if !o.abandon || te.Err != context.DeadlineExceeded || te.Policy != o.name || !errors.Is(out, timeout.ErrTimeout) {
				fail("abandoned: %#v (Abandon %v)", te, o.abandon)
			}
			o.timeouts++
			break
		}
		if o.abandon && running || o.abandon && n == 1 && ctx.Err() != nil && out == ctx.Err() && out != last {
			// Abandoned as its caller's context ended: that context's error.
			if out != ctx.Err() || out == nil {
				fail("abandoned with %v, its caller's context %v", out, ctx.Err())
			}
			break
		}
		if out == last {
			break
		}
		te, ok := out.(*timeout.Error)
		switch {
		case !ok || te.Err != last || te.Policy != o.name || te.Duration != o.timeout:
			fail("replaced its function's error with %#v", out)
		case last == nil:
			fail("turned a success into %v", out)
		case !errors.Is(out, timeout.ErrTimeout) || !errors.Is(out, context.DeadlineExceeded) || telemetry.ErrorType(out) != "timeout":
			fail("timeout error %v does not match ErrTimeout and DeadlineExceeded", out)
		case ctx.Err() != nil:
			fail("timed out although its caller's context had ended: %v", ctx.Err())
		case time.Since(start) < o.timeout:
			fail("timed out after %v, before its %v", time.Since(start), o.timeout)
		}
		o.timeouts++
	case fzBulkhead:
		switch {
		case n > 1:
			fail("ran its function %d times", n)
		case n == 1:
			if out != last {
				fail("changed its function's error to %v", out)
			}
		case errors.Is(out, bulkhead.ErrFull):
			if be, ok := out.(*bulkhead.Error); !ok || be.Policy != o.name || telemetry.ErrorType(out) != "bulkhead_full" {
				fail("refused with %#v", out)
			}
			o.rejections++
		default:
			// Its caller's context ended before it got a slot: the ctx's
			// error, as a rejection that is not counted as one.
			be, ok := out.(*bulkhead.Error)
			if !ok || ctx.Err() == nil || be.Err != ctx.Err() || be.Policy != o.name ||
				!errors.Is(out, policy.ErrRejected) || telemetry.ErrorType(out) != "bulkhead_wait_ended" {
				fail("skipped its function and returned %v (ctx: %v)", out, ctx.Err())
			}
		}
	case fzBreaker:
		switch {
		case n > 1:
			fail("ran its function %d times", n)
		case n == 1:
			if out != last {
				fail("changed its function's error to %v", out)
			}
		case !errors.Is(out, breaker.ErrOpen) || telemetry.ErrorType(out) != "circuit_open":
			fail("skipped its function and returned %v", out)
		default:
			if d, ok := policy.RetryAfter(out); ok && (d < 0 || d > o.breakFor) {
				fail("RetryAfter %v, break %v", d, o.breakFor)
			}
			o.rejections++
		}
	case fzRateLimit, fzLimiter, fzThrottle:
		o.checkAdmission(ctx, n, last, out, fail)
	case fzRetry:
		if n < 1 || n > o.maxAttempts {
			fail("made %d attempts, MaxAttempts %d", n, o.maxAttempts)
		}
		retries := max(n-1, 0)
		var pe *backoff.PermanentError
		re, gaveUp := out.(*retry.Error)
		exhausted, budget := gaveUp && !re.BudgetExhausted, gaveUp && re.BudgetExhausted
		switch {
		case out == nil:
			if last != nil {
				fail("returned nil after a failed last attempt")
			}
		case errors.As(last, &pe):
			if out != pe.Err {
				fail("returned %v for permanent error %v", out, last)
			}
		case out == last:
			if hint, ok := policy.RetryAfter(last); ctx.Err() == nil && (!ok || hint <= retry.DefaultMaxRetryAfter) {
				fail("gave up on %v with attempts left and its caller waiting", last)
			}
		case exhausted:
			// Short of MaxAttempts only when the next wait could not end
			// before the caller's deadline.
			_, deadline := ctx.Deadline()
			if re.Attempts != n || re.Err != last || (n != o.maxAttempts && !deadline) || telemetry.ErrorType(out) != "retry_exhausted" {
				fail("exhausted: %#v", re)
			}
		case budget:
			if re.Attempts != n || re.Err != last || !o.budgeted || telemetry.ErrorType(out) != "retry_budget_exhausted" {
				fail("budget exhausted: %#v", re)
			}
			o.rejections++
		case out == ctx.Err():
			retries++ // announced, then its caller's context ended in the delay
		default:
			fail("returned %v", out)
		}
		o.retries += retries
	}
}

// checkAdmission checks a rate limiter, adaptive limiter or throttle: it
// runs its function at most once and returns its error unchanged, or
// refuses the call with its rejection (counted), or — a rate limiter's or
// limiter's waiter whose context ended — with the context's error (not
// counted). w.mu is held.
func (o *fzObserver) checkAdmission(ctx context.Context, n int, last, out error, fail func(string, ...any)) {
	var refused, waitEnded bool
	switch o.kind {
	case fzRateLimit:
		e, ok := out.(*ratelimit.Error)
		refused = ok && errors.Is(out, ratelimit.ErrLimited) && e.Policy == o.name && telemetry.ErrorType(out) == "rate_limited"
		waitEnded = ok && e.Err != nil && e.Err == ctx.Err() && telemetry.ErrorType(out) == "rate_limit_wait_ended"
	case fzLimiter:
		e, ok := out.(*limiter.Error)
		refused = ok && errors.Is(out, limiter.ErrLimited) && e.Policy == o.name && telemetry.ErrorType(out) == "concurrency_limited"
		waitEnded = ok && e.Err != nil && e.Err == ctx.Err() && telemetry.ErrorType(out) == "concurrency_limit_wait_ended"
	case fzThrottle:
		e, ok := out.(*throttle.Error)
		refused = ok && errors.Is(out, throttle.ErrThrottled) && e.Policy == o.name && telemetry.ErrorType(out) == "throttled"
	}
	switch {
	case n > 1:
		fail("ran its function %d times", n)
	case n == 1:
		if out != last {
			fail("changed its function's error to %v", out)
		}
	case refused:
		o.rejections++
	case !waitEnded || !errors.Is(out, policy.ErrRejected):
		fail("skipped its function and returned %#v (ctx: %v)", out, ctx.Err())
	}
}

// checkHedge checks a hedge's outcome: the first success wins; otherwise
// the error of an attempt that failed, or its caller's context's.
func (o *fzObserver) checkHedge(ctx context.Context, rs []fzResult, out error, fail func(string, ...any)) {
	if n := len(rs); n < 1 || n > 1+o.maxHedges {
		fail("made %d attempts, MaxHedges %d", n, o.maxHedges)
	}
	succeeded := false
	for _, r := range rs {
		succeeded = succeeded || r.ended && !r.panicked && r.err == nil
	}
	if out == nil {
		if !succeeded {
			fail("returned nil with no attempt succeeded")
		}
		return
	}
	if ctx.Err() != nil && errors.Is(out, ctx.Err()) {
		return // its caller gave up
	}
	for _, r := range rs {
		if r.ended && r.err == out {
			if !rs[0].ended {
				fail("returned %v while its first attempt ran", out)
			}
			return
		}
	}
	fail("returned %v, the error of none of its attempts", out)
}

// checkFallback checks a fallback's outcome: its function's, or its
// replacement's when the function failed.
func (o *fzObserver) checkFallback(rs []fzResult, out error, fail func(string, ...any)) {
	if len(rs) != 1 {
		fail("ran its function %d times", len(rs))
		return
	}
	last := rs[0].err
	switch {
	case out == last:
	case last != nil && out == o.fbOutcome:
		o.uses++
	default:
		fail("returned %v for its function's %v", out, last)
	}
}

// checkChaos checks a chaos policy's outcome: a fault instead of the
// function, or the function's outcome after a wait or none.
func (o *fzObserver) checkChaos(ctx context.Context, rs []fzResult, out error, fail func(string, ...any)) {
	switch n := len(rs); {
	case n > 1:
		fail("ran its function %d times", n)
	case n == 1 && out != rs[0].err:
		fail("changed its function's %v into %v", rs[0].err, out)
	case n == 1:
		if rs[0].start >= o.chaosDelay && o.chaosDelay > 0 {
			o.injections++ // the function ran after the injected latency
		}
	case o.chaosFault && out == errFzChaos:
		o.injections++
	case !o.chaosFault && ctx.Err() != nil && out == ctx.Err():
		o.injections++ // its caller's context ended in the injected wait
	default:
		fail("skipped its function and returned %v", out)
	}
}

// fzCheckMatches checks what any error out of any policy matches: the
// rejections, and only they, match policy.ErrRejected (fn's own errors never
// do), and timeouts match context.DeadlineExceeded.
func fzCheckMatches(t *testing.T, name string, err error) {
	_, waitEnded := errors.AsType[*bulkhead.Error](err) // a bulkhead's queue wait that ended with the ctx
	_, rateWaitEnded := errors.AsType[*ratelimit.Error](err)
	_, limiterWaitEnded := errors.AsType[*limiter.Error](err)
	rejection := errors.Is(err, breaker.ErrOpen) || errors.Is(err, bulkhead.ErrFull) || errors.Is(err, retry.ErrBudgetExhausted) || waitEnded ||
		rateWaitEnded || limiterWaitEnded || errors.Is(err, throttle.ErrThrottled)
	if rejection != errors.Is(err, policy.ErrRejected) {
		t.Errorf("%s: %v: a rejection (%v) but matches ErrRejected: %v", name, err, rejection, errors.Is(err, policy.ErrRejected))
	}
	if errors.Is(err, timeout.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%s: timeout %v does not match DeadlineExceeded", name, err)
	}
}

// fzError is a failure of the function, a distinct value each time.
type fzError struct{ id int64 }

func (e *fzError) Error() string { return fmt.Sprintf("fn error %d", e.id) }

// fzPanic is what the function panics with, a distinct value each time.
type fzPanic struct{ id int64 }

// fzCall is one call through the composition, and the script its function
// follows: the i-th run of the function does script[i % len(script)].
type fzCall struct {
	w      *fzWorld
	script []int

	active   atomic.Int32
	mu       sync.Mutex
	runs     int
	last     error
	panicked *fzPanic
}

func (c *fzCall) fn(ctx context.Context) (err error) {
	if c.active.Add(1) != 1 && !c.w.concurrent {
		c.w.t.Errorf("one call runs its function twice at once")
	}
	defer c.active.Add(-1)
	c.mu.Lock()
	step := c.script[c.runs%len(c.script)]
	c.runs++
	if c.panicked != nil {
		c.w.t.Errorf("function ran again after panicking")
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.last = err
		c.mu.Unlock()
	}()

	id := c.w.ids.Add(1)
	d := time.Duration(1+step/7%5) * 7 * time.Millisecond
	switch step % 7 {
	case 0:
		return nil
	case 1:
		return &fzError{id}
	case 2:
		<-ctx.Done()
		return fmt.Errorf("fn %d: %w", id, ctx.Err())
	case 3:
		return fzSleep(ctx, d, id, nil)
	case 4:
		return fzSleep(ctx, d, id, &fzError{id})
	case 5:
		if c.w.concurrent {
			return &fzError{id} // see fzWorld.concurrent
		}
		p := &fzPanic{id}
		c.mu.Lock()
		c.panicked = p
		c.mu.Unlock()
		panic(p)
	default:
		return backoff.Permanent(&fzError{id})
	}
}

// fzSleep waits d, or until ctx ends, honouring ctx as a function must.
func fzSleep(ctx context.Context, d time.Duration, id int64, err error) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("fn %d: %w", id, ctx.Err())
	case <-tm.C:
		return err
	}
}

// fzRun builds the composition data describes and runs its calls.
func fzRun(t *testing.T, data []byte) {
	r := fuzzbytes.New(data)
	reader := sdkmetric.NewManualReader()
	w := &fzWorld{
		t:      t,
		reader: reader,
		tel:    telemetry.New(telemetry.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))),
		budget: budget.Must(budget.Config{Ratio: 0.5, MinExtra: 1, Window: time.Second}),
	}
	top := w.node(r, 0, fzPipeline)
	bound := top.attempts()

	calls := make([]*fzCall, 1+r.Next()%6)
	var wg sync.WaitGroup
	for i := range calls {
		c := &fzCall{w: w, script: make([]int, 1+r.Next()%6)}
		for j := range c.script {
			c.script[j] = r.Next()
		}
		calls[i] = c
		offset := time.Duration(r.Next()%8) * 5 * time.Millisecond
		mode, d := r.Next(), time.Duration(1+r.Next()%10)*7*time.Millisecond
		wg.Go(func() {
			time.Sleep(offset)
			// Every call ends: a function waiting for its context gets
			// this deadline at the latest.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			switch mode % 4 {
			case 1: // the caller's own deadline
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			case 2: // a caller that already gave up
				ctx, cancel = context.WithCancel(ctx)
				cancel()
			}
			var out error
			var recovered any
			func() {
				defer func() { recovered = recover() }()
				out = top.Execute(ctx, c.fn)
			}()
			c.mu.Lock()
			defer c.mu.Unlock()
			switch {
			case c.panicked != nil:
				if recovered != c.panicked {
					t.Errorf("call %d: function panicked with %v, the pipeline with %v", i, c.panicked, recovered)
				}
			case recovered != nil:
				t.Errorf("call %d: pipeline panicked with %v", i, recovered)
			case out == nil && !w.concurrent && !w.replaces && (c.runs == 0 || c.last != nil):
				t.Errorf("call %d: success after %d runs, the last returning %v", i, c.runs, c.last)
			}
			if c.runs > bound {
				t.Errorf("call %d ran its function %d times, at most %d attempts", i, c.runs, bound)
			}
		})
	}
	wg.Wait()
	// Attempts that outlived their calls (losing hedges, abandoned
	// functions) end as their contexts did.
	time.Sleep(time.Minute)
	synctest.Wait()
	fzCheckAfter(t, w)
}

// fzCheckAfter checks, once every call has returned, that nothing is held
// and that the breakers' and OpenTelemetry's counts agree with the
// observers'.
func fzCheckAfter(t *testing.T, w *fzWorld) {
	var rm metricdata.ResourceMetrics
	if err := w.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counters := map[string]map[string]int64{} // instrument → policy name → value
	pipelines := map[string]uint64{}          // pipeline name → calls
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !data.IsMonotonic {
					continue
				}
				for _, dp := range data.DataPoints {
					name, _ := dp.Attributes.Value(attribute.Key("palisade.policy.name"))
					if counters[m.Name] == nil {
						counters[m.Name] = map[string]int64{}
					}
					counters[m.Name][name.AsString()] += dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range data.DataPoints {
					name, _ := dp.Attributes.Value(attribute.Key("palisade.pipeline.name"))
					pipelines[name.AsString()] += dp.Count
				}
			}
		}
	}

	for _, o := range w.observers {
		switch o.kind {
		case fzBulkhead:
			if o.bulkhead.InFlight() != 0 || o.bulkhead.Queued() != 0 {
				t.Errorf("%s: InFlight %d, Queued %d after every call returned", o.name, o.bulkhead.InFlight(), o.bulkhead.Queued())
			}
			fzCheckCount(t, o, "palisade.rejected_calls", counters, o.rejections)
		case fzBreaker:
			m := o.breaker.Metrics()
			if m.TotalCalls != int64(o.fnCalls) || m.Rejected != int64(o.rejections) {
				t.Errorf("%s: Metrics TotalCalls %d, Rejected %d; observed %d calls, %d rejections", o.name, m.TotalCalls, m.Rejected, o.fnCalls, o.rejections)
			}
			fzCheckCount(t, o, "palisade.rejected_calls", counters, o.rejections)
			if o.breaker.State() == breaker.HalfOpen {
				// No call is in flight: every trial permit is free.
				p, err := o.breaker.Allow()
				if err != nil {
					t.Errorf("%s: half-open with no call in flight rejects: %v", o.name, err)
				}
				p.Done(nil)
			}
		case fzLimiter:
			if o.limiter.InFlight() != 0 || o.limiter.Queued() != 0 {
				t.Errorf("%s: InFlight %d, Queued %d after every call returned", o.name, o.limiter.InFlight(), o.limiter.Queued())
			}
			fzCheckCount(t, o, "palisade.rejected_calls", counters, o.rejections)
		case fzRateLimit, fzThrottle:
			fzCheckCount(t, o, "palisade.rejected_calls", counters, o.rejections)
		case fzRetry:
			fzCheckCount(t, o, "palisade.retry.retries", counters, o.retries)
			fzCheckCount(t, o, "palisade.rejected_calls", counters, o.rejections)
		case fzTimeout:
			fzCheckCount(t, o, "palisade.timeout.timeouts", counters, o.timeouts)
			if o.to.Abandoned() != 0 {
				t.Errorf("%s: %d abandoned functions still running", o.name, o.to.Abandoned())
			}
		case fzHedge:
			fzCheckCount(t, o, "palisade.hedge.hedges", counters, o.entered-o.invocations)
		case fzFallback:
			fzCheckCount(t, o, "palisade.fallback.uses", counters, o.uses)
		case fzChaos:
			fzCheckCount(t, o, "palisade.chaos.injections", counters, o.injections)
		case fzPipeline:
			if got := pipelines[o.name]; got != uint64(o.invocations) {
				t.Errorf("%s: palisade.pipeline.duration counts %d calls, observed %d", o.name, got, o.invocations)
			}
		}
	}
}

func fzCheckCount(t *testing.T, o *fzObserver, instrument string, counters map[string]map[string]int64, want int) {
	t.Helper()
	if got := counters[instrument][o.name]; got != int64(want) {
		t.Errorf("%s: %s = %d, observed %d", o.name, instrument, got, want)
	}
}
