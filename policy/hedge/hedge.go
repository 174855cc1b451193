package hedge

import (
	"context"
	"sync"
	"time"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/budget"
)

// Hedge is a policy that starts another attempt of a call when the ones
// running are slow, and returns the first success. It is safe for
// concurrent use.
type Hedge struct {
	name      string
	delay     time.Duration // fixed, or 0 for the quantile's
	quantile  *quantile     // nil for a fixed delay
	maxHedges int
	budget    *budget.Budget
	report    *report.Hedge
}

var _ policy.ModalPolicy = (*Hedge)(nil)

// AttemptMode returns policy.ConcurrentAttempts: attempts of one call run
// at the same time, and the losers outlive Execute until they see their
// context end.
func (*Hedge) AttemptMode() policy.AttemptMode { return policy.ConcurrentAttempts }

// Name returns the policy's name.
func (h *Hedge) Name() string { return h.name }

// Delay returns how long an attempt runs before the next one starts: the
// fixed Config.Delay, or the current estimate of the latency quantile. It
// reports false while the estimate has too few samples, when no call is
// hedged.
func (h *Hedge) Delay() (time.Duration, bool) {
	if h.quantile == nil {
		return h.delay, true
	}
	return h.quantile.get()
}

// Execute runs fn, and, each time the attempts running have not
// succeeded within the delay, another attempt, up to MaxHedges more and as
// the hedge budget allows. Every attempt runs on a goroutine of its own
// with a context of its own, derived from ctx.
//
// The first attempt to succeed wins: Execute returns nil at once, and the
// context of every other attempt is cancelled with the cause [ErrLost]. An
// attempt's failure does not end the call while another attempt runs;
// once every attempt started has failed, Execute returns the error of the
// last one to end (no further hedge is started for a failure: that is a
// retry's job). When ctx ends first, Execute returns ctx.Err() at once and
// the attempts see their contexts end.
//
// A panic in an attempt while Execute waits is re-raised by Execute, with
// the same value, after the other attempts' contexts are cancelled. A
// panic in an attempt that ends after Execute returned (a loser that
// panics when cancelled) cannot reach the caller any more: it is re-raised
// on the attempt's goroutine, which crashes the program as any goroutine's
// unrecovered panic does, rather than being swallowed.
//
// A call whose ctx was marked with [Disable], or has already ended, runs
// fn once, on the caller's goroutine, as if there were no Hedge.
func (h *Hedge) Execute(ctx context.Context, fn policy.Func) error {
	if !Allowed(ctx) || ctx.Err() != nil {
		// Not to be hedged, or nobody waits for it: fn, which must honour
		// its context, decides what to do.
		return fn(ctx)
	}
	h.budget.Call()
	c := &call{fn: fn, timed: h.quantile != nil}
	c.results = make(chan outcome, h.maxHedges+1)
	c.attempts = c.inline[:0]
	c.start(ctx)

	var tick <-chan time.Time
	delay, hedging := h.Delay()
	if hedging {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		tick = timer.C
		c.timer = timer
	}
	running := 1
	for {
		select {
		case o := <-c.results:
			running--
			c.attempts[o.index].done = true
			if o.err == nil && !o.panicked {
				if c.timed {
					h.quantile.add(o.took)
				}
				return c.end(ctx, h, o.index, nil)
			}
			if o.panicked || running == 0 {
				return c.end(ctx, h, -1, o.err)
			}
		case <-tick:
			tick = nil
			n := len(c.attempts) + 1
			if ctx.Err() != nil || !h.budget.TryExtra() {
				continue // no hedge now, nor later in this call
			}
			h.report.Hedging(ctx, n, delay)
			c.start(ctx)
			running++
			if n <= h.maxHedges {
				c.timer.Reset(delay)
				tick = c.timer.C
			}
		case <-ctx.Done():
			return c.end(ctx, h, -1, ctx.Err())
		}
	}
}

// call is the state of one call of Execute.
type call struct {
	fn       policy.Func
	timed    bool // attempts are timed for the quantile
	results  chan outcome
	timer    *time.Timer
	attempts []attempt // owned by Execute's goroutine
	inline   [2]attempt

	mu       sync.Mutex
	returned bool // Execute has returned (or is panicking)
	panicked bool // an attempt panicked before then; panicVal is its value
	panicVal any
}

// attempt is one attempt of a call, as Execute sees it.
type attempt struct {
	cancel context.CancelCauseFunc
	start  time.Time // when timed
	done   bool
}

// outcome is what an attempt's goroutine sends when the attempt ends.
type outcome struct {
	index    int
	err      error
	panicked bool
	took     time.Duration // when timed
}

// start starts the next attempt of the call on a goroutine of its own.
func (c *call) start(ctx context.Context) {
	i := len(c.attempts)
	actx, cancel := context.WithCancelCause(ctx)
	if i > 0 || ctx.Value(attemptKey) != nil {
		// The first attempt needs a number only to hide an outer hedge's.
		actx = context.WithValue(actx, attemptKey, i+1)
	}
	a := attempt{cancel: cancel}
	if c.timed {
		a.start = time.Now()
	}
	c.attempts = append(c.attempts, a)
	go c.run(actx, i, a.start)
}

// run runs attempt i and sends its outcome.
func (c *call) run(ctx context.Context, i int, start time.Time) {
	o := outcome{index: i, panicked: true}
	defer func() {
		if o.panicked {
			v := recover()
			c.mu.Lock()
			late := c.returned
			if !late && !c.panicked {
				c.panicked, c.panicVal = true, v
			}
			c.mu.Unlock()
			if late {
				// Nobody waits for this attempt any more: crash, as an
				// unrecovered panic on any goroutine does, rather than
				// swallow it.
				panic(v)
			}
		}
		c.results <- o // buffered for every attempt: never blocks
	}()
	o.err = c.fn(ctx)
	o.panicked = false
	if c.timed {
		o.took = time.Since(start)
	}
}

// end ends the call: the attempt winner (-1 for none) won, every attempt
// still running lost. It returns err, or panics with the value of an
// attempt that panicked before the call ended.
func (c *call) end(ctx context.Context, h *Hedge, winner int, err error) error {
	c.mu.Lock()
	c.returned = true
	panicked, v := c.panicked, c.panicVal
	c.mu.Unlock()

	callerEnded := ctx.Err() != nil
	var now time.Time
	if c.timed && !callerEnded {
		now = time.Now()
	}
	for i := range c.attempts {
		a := &c.attempts[i]
		if a.done {
			a.cancel(nil)
			continue
		}
		a.cancel(ErrLost)
		if c.timed && !callerEnded && !panicked {
			// A loser took at least this long: counting it keeps the
			// slow calls that hedging cut short in the estimate, which
			// would otherwise shrink under its own hedging.
			h.quantile.add(now.Sub(a.start))
		}
	}
	if hedges := len(c.attempts) - 1; hedges > 0 {
		won := 0
		if winner > 0 {
			won = 1
		}
		h.report.Ended(ctx, won, hedges-won)
	}
	if panicked {
		panic(v)
	}
	return err
}
