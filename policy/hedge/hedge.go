package hedge

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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
// at the same time, hedges start on goroutines of their own, and losers
// outlive Execute until they see their context end.
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

// Execute runs fn and, each time the attempts running have not succeeded
// within the delay, another attempt on a goroutine of its own, up to
// MaxHedges more and as the hedge budget allows. Each attempt has a
// context of its own, derived from ctx.
//
// The first attempt to succeed wins: the context of every other attempt is
// cancelled with the cause [ErrLost], and Execute returns nil. The first
// attempt runs on the caller's goroutine, so that a call that needs no
// hedge — nearly every call — costs no goroutine: when a hedge wins,
// Execute returns once the first attempt has returned, which a function
// honouring its context, as every policy.Func must, does at once. Hedges
// that lost are not waited for.
//
// An attempt's failure does not end the call while another attempt runs;
// once every attempt started has failed, Execute returns the error of the
// last one to end, unchanged (no hedge is started for a failure: that is a
// retry's job). When ctx ends, the attempts see their contexts end; the
// call ends with the first attempt's error if it matches ctx.Err() (as it
// does when the first attempt saw ctx end), else with ctx.Err().
//
// A panic in an attempt while the call runs is re-raised by Execute, with
// the same value, after the other attempts' contexts are cancelled. A panic
// in a hedge that ends after Execute returned (a loser that panics when
// cancelled) cannot reach the caller any more: it is re-raised on the
// hedge's goroutine, which crashes the program as any goroutine's
// unrecovered panic does, rather than being swallowed.
//
// A call whose ctx was marked with [Disable], or has already ended, runs
// fn once, as if there were no Hedge.
func (h *Hedge) Execute(ctx context.Context, fn policy.Func) error {
	if !Allowed(ctx) || ctx.Err() != nil {
		// Not to be hedged, or nobody waits for it: fn, which must honour
		// its context, decides what to do.
		return fn(ctx)
	}
	h.budget.Call()
	delay, hedging := h.Delay()
	timed := h.quantile != nil
	var start time.Time
	if timed {
		start = time.Now()
	}
	if !hedging {
		err := fn(firstAttempt(ctx))
		if timed && err == nil {
			h.quantile.add(time.Since(start))
		}
		return err
	}

	c := &call{h: h, fn: fn, ctx: ctx, delay: delay, timed: timed, winner: -1}
	actx, cancel := context.WithCancelCause(firstAttempt(ctx))
	c.attempts = append(c.inline[:0], attempt{cancel: cancel, start: start})
	c.mu.Lock() // the timer's function reads c.timer
	c.timer = time.AfterFunc(delay, c.hedge)
	c.mu.Unlock()

	panicking := true
	defer func() {
		if panicking {
			c.end(-1, true) // the first attempt panicked: the panic goes on
		}
	}()
	err := fn(actx)
	panicking = false

	if c.timer.Stop() && !c.hedged.Load() {
		// The delay had not passed: no hedge ran, none will.
		cancel(nil)
		if timed && err == nil {
			h.quantile.add(time.Since(start))
		}
		return err
	}
	return c.wait(err)
}

// firstAttempt returns the context of a call's first attempt.
func firstAttempt(ctx context.Context) context.Context {
	if ctx.Value(attemptKey) != nil {
		// An outer hedge's attempt number must not show through.
		return context.WithValue(ctx, attemptKey, 1)
	}
	return ctx
}

// call is the state of one call of Execute that may be hedged.
type call struct {
	h     *Hedge
	fn    policy.Func
	ctx   context.Context // the caller's
	delay time.Duration
	timed bool // attempts are timed for the quantile
	timer *time.Timer

	hedged atomic.Bool // a hedge was started

	mu       sync.Mutex
	attempts []attempt
	inline   [2]attempt
	running  int           // hedges running; the first attempt is the caller's
	winner   int           // the index of the attempt that won, or -1
	lastErr  error         // of the last attempt to fail
	ended    bool          // the call has ended: nothing may start, nobody waits
	wake     chan struct{} // when the caller waits: an attempt ended
	panicked bool          // a hedge panicked while the call ran
	panicVal any
}

// attempt is one attempt of a call.
type attempt struct {
	cancel context.CancelCauseFunc
	start  time.Time // when timed
	done   bool
}

// hedge starts the next hedge, on the timer's goroutine, and runs it.
func (c *call) hedge() {
	c.mu.Lock()
	if c.ended || c.ctx.Err() != nil || !c.h.budget.TryExtra() {
		c.mu.Unlock()
		return
	}
	i := len(c.attempts)
	actx, cancel := context.WithCancelCause(c.ctx)
	actx = context.WithValue(actx, attemptKey, i+1)
	a := attempt{cancel: cancel}
	if c.timed {
		a.start = time.Now()
	}
	c.attempts = append(c.attempts, a)
	c.running++
	c.hedged.Store(true)
	if i < c.h.maxHedges {
		c.timer.Reset(c.delay) // the next hedge
	}
	c.mu.Unlock()

	c.h.report.Hedging(c.ctx, i+1, c.delay)
	c.run(actx, i)
}

// run runs hedge i, and reports its outcome to the call.
func (c *call) run(ctx context.Context, i int) {
	panicking := true
	defer func() {
		if !panicking {
			return
		}
		v := recover()
		c.mu.Lock()
		late := c.ended
		c.attempts[i].done = true
		c.running--
		if !late && !c.panicked {
			c.panicked, c.panicVal = true, v
			c.cancelOthers(i)
			c.notify()
		}
		c.mu.Unlock()
		if late {
			// Nobody waits for this attempt any more: crash, as an
			// unrecovered panic on any goroutine does, rather than swallow
			// it.
			panic(v)
		}
	}()
	err := c.fn(ctx)
	panicking = false

	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts[i].done = true
	c.running--
	if c.ended {
		return
	}
	c.finished(i, err)
	c.notify()
}

// finished records that attempt i ended with err. c.mu is held.
func (c *call) finished(i int, err error) {
	if err != nil {
		c.lastErr = err
		return
	}
	if c.winner >= 0 {
		return
	}
	c.winner = i
	if c.timed && (i == 0 || !c.attempts[0].done) {
		// The sample is the first attempt's latency: exact when it won,
		// and when a hedge won, the time it had run, a lower bound that
		// keeps the slow calls hedging cut short in the estimate (which
		// would otherwise shrink under its own hedging).
		c.h.quantile.add(time.Since(c.attempts[0].start))
	}
	c.cancelOthers(i)
}

// cancelOthers cancels, with ErrLost, every attempt but i still running.
// c.mu is held.
func (c *call) cancelOthers(i int) {
	for j := range c.attempts {
		if a := &c.attempts[j]; j != i && !a.done {
			a.cancel(ErrLost)
		}
	}
}

// notify wakes the caller if it waits. c.mu is held.
func (c *call) notify() {
	if c.wake != nil {
		select {
		case c.wake <- struct{}{}:
		default: // already woken
		}
	}
}

// wait ends a call whose first attempt returned err after a hedge may have
// started: it waits until an attempt wins, every attempt has failed, or
// ctx ends.
func (c *call) wait(err error) error {
	c.mu.Lock()
	c.attempts[0].done = true
	if !c.panicked && c.winner < 0 {
		c.finished(0, err)
	}
	for {
		switch {
		case c.panicked, c.winner >= 0:
			c.mu.Unlock()
			return c.end(c.winner, false)
		case c.running == 0:
			// Every attempt failed: no further hedge for a failure.
			err := c.lastErr
			c.mu.Unlock()
			c.end(-1, false)
			return err
		case c.ctx.Err() != nil:
			c.mu.Unlock()
			c.end(-1, false)
			if errors.Is(err, c.ctx.Err()) {
				return err // the first attempt's, ended by ctx: unchanged
			}
			return c.ctx.Err()
		}
		if c.wake == nil {
			c.wake = make(chan struct{}, 1)
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-c.ctx.Done():
		}
		c.mu.Lock()
	}
}

// end ends the call, won by attempt winner (-1 for none): no hedge starts
// any more, the attempts still running lose, and the hedges are reported.
// It re-raises the panic of a hedge that panicked while the call ran,
// unless the first attempt's own panic is under way (panicking).
func (c *call) end(winner int, panicking bool) error {
	c.mu.Lock()
	c.ended = true
	panicked, v := c.panicked, c.panicVal
	for i := range c.attempts {
		a := &c.attempts[i]
		if i == 0 || a.done {
			a.cancel(nil)
		} else {
			a.cancel(ErrLost)
		}
	}
	hedges := len(c.attempts) - 1
	c.mu.Unlock()
	// After ended is set: a hedge starting before then may have re-armed
	// the timer for the next one, which must not fire (and start a
	// goroutine) after the call.
	c.timer.Stop()
	if hedges > 0 {
		won := 0
		if winner > 0 {
			won = 1
		}
		c.h.report.Ended(c.ctx, won, hedges-won)
	}
	if panicked && !panicking {
		panic(v)
	}
	return nil
}
