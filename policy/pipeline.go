package policy

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/palisade-go/palisade/internal/inventory"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

// Pipeline is a stack of policies run as one: the first policy is the
// outermost. A Pipeline is itself a [Policy], so pipelines nest. It is safe
// for concurrent use.
type Pipeline struct {
	name   string
	chain  *chain
	report *report.Pipeline
}

// NewPipeline returns a pipeline called name running policies, the first
// outermost. An empty pipeline runs the function directly. Its telemetry is
// [telemetry.Default]; see [Pipeline.WithTelemetry]. NewPipeline panics if a
// policy is nil.
func NewPipeline(name string, policies ...Policy) *Pipeline {
	for i, p := range policies {
		if p == nil {
			panic("policy: NewPipeline: policies[" + strconv.Itoa(i) + "] is nil")
		}
	}
	return &Pipeline{
		name:   name,
		chain:  inventory.Track(newChain(append([]Policy(nil), policies...)), "pipeline", func(c *chain) inventory.Facts { return inventory.Facts{"name": name, "policies": c.policies} }),
		report: report.NewPipeline(telemetry.Default(), name),
	}
}

// Name returns the pipeline's name.
func (p *Pipeline) Name() string { return p.name }

// Policies returns the pipeline's policies, the outermost first. The slice
// is a copy: changing it changes nothing in the pipeline. It is meant for
// inspection (health checks, a registry deciding whether an entry is in
// use), not for the call path.
func (p *Pipeline) Policies() []Policy { return append([]Policy(nil), p.chain.policies...) }

// AttemptMode reports how the pipeline runs its function:
// [ConcurrentAttempts] if one of its policies does, [SequentialAttempts] if
// all of them do, else [UndeclaredAttempts].
func (p *Pipeline) AttemptMode() AttemptMode { return p.chain.mode }

// WithTelemetry returns a copy of p that reports to t (nil meaning
// [telemetry.Default]); p is unchanged.
func (p *Pipeline) WithTelemetry(t *telemetry.Telemetry) *Pipeline {
	if t == nil {
		t = telemetry.Default()
	}
	c := *p
	c.report = report.NewPipeline(t, p.name)
	return &c
}

// Execute runs fn through the pipeline's policies, within a span named after
// the pipeline.
func (p *Pipeline) Execute(ctx context.Context, fn Func) error {
	return p.run(ctx, fn, nil)
}

// run runs one call: fn, or when fn is nil the attempts of a.
func (p *Pipeline) run(ctx context.Context, fn Func, a attempter) (err error) {
	if p.report == nil {
		return p.chain.execute(ctx, fn, a)
	}
	ctx, call := p.report.Start(ctx)
	ended := false
	defer func() {
		if !ended { // fn panicked: end the span as a failure, let the panic go on
			call.End(ctx, panicked{})
		}
	}()
	err = p.chain.execute(ctx, fn, a)
	ended = true
	call.End(ctx, err)
	return err
}

// panicked is the outcome the pipeline's span and histogram report for a
// call whose function panicked; it is never returned.
type panicked struct{}

func (panicked) Error() string     { return "palisade: function panicked" }
func (panicked) ErrorType() string { return "panic" }

// attempter runs one attempt of a call whose function is not a Func: what
// Get passes, so that its per-call state is one allocation and no closure.
type attempter interface {
	attempt(ctx context.Context) error
}

// chain is the pipeline's policies composed once, at construction, so that
// a call through N policies allocates no closure per policy. Each policy's
// "next" is a Func bound once to a frame: the per-call state (the function
// of the call) lives in the frame, and frames are recycled through a pool,
// so a call through sequential policies allocates nothing in the steady
// state.
//
// A frame can be recycled only if nothing calls into it once its call has
// returned, which only a sequential policy promises. Below a policy that is
// not sequential, the rest of the chain runs, for each call, in a frame of
// its own that is never recycled: an attempt that outlives its policy's
// Execute (an abandoned one, a losing hedge), or that starts on a goroutine
// the policy started, runs its own call's function whatever other calls do.
// A policy that did not declare concurrent attempts and calls its function
// after its Execute returned gets a panic naming the rule.
type chain struct {
	policies []Policy
	mode     AttemptMode // of the whole chain
	frames   sync.Pool   // *frame for policies[0:]
}

// frame is policies[from:] of the chain bound to one call at a time.
type frame struct {
	fn    Func      // the function of the call in progress, or nil
	a     attempter // or the attempter of the call in progress
	steps []step    // steps[i] runs policies[from+i]
	head  Func      // steps[0].run or call, bound once

	// For a frame made for one call below a policy that is not
	// sequential:
	above    Policy      // that policy
	mode     AttemptMode // its mode
	returned atomic.Bool // its Execute has returned
}

type step struct {
	chain *chain
	frame *frame
	index int // in chain.policies
	mode  AttemptMode
	next  Func // the next step's run, or the frame's call, bound once
}

func (s *step) run(ctx context.Context) error {
	p := s.chain.policies[s.index]
	if s.mode == SequentialAttempts {
		return p.Execute(ctx, s.next)
	}
	tail := s.chain.newFrame(s.index + 1)
	tail.fn, tail.a = s.frame.fn, s.frame.a
	tail.above, tail.mode = p, s.mode
	err := p.Execute(ctx, tail.enter)
	tail.returned.Store(true)
	return err
}

// enter is the function a policy that is not sequential is given: it runs
// the rest of the chain in the frame made for this call.
func (f *frame) enter(ctx context.Context) error {
	if f.mode != ConcurrentAttempts && f.returned.Load() {
		panic(lateCall(f.above))
	}
	return f.head(ctx)
}

func (f *frame) call(ctx context.Context) error {
	if fn := f.fn; fn != nil {
		return fn(ctx)
	}
	if a := f.a; a != nil {
		return a.attempt(ctx)
	}
	// Only a policy that declared sequential attempts, and broke its word,
	// gets here: it called its function after its call had ended.
	panic("palisade/policy: a policy that declared SequentialAttempts called its function after its Execute returned; " +
		"a policy whose attempts outlive its Execute must declare ConcurrentAttempts")
}

// lateCall is the panic value of a policy calling its function after its
// Execute returned without having declared that it may.
func lateCall(p Policy) string {
	return "palisade/policy: " + describe(p) + " called its function after its Execute returned, " +
		"which a policy may do only if it declares ConcurrentAttempts (see policy.AttemptMode)"
}

func describe(p Policy) string {
	if n, ok := p.(interface{ Name() string }); ok {
		return "policy " + strconv.Quote(n.Name()) + " (" + typeName(p) + ")"
	}
	return "a policy of type " + typeName(p)
}

func newChain(policies []Policy) *chain {
	c := &chain{policies: policies, mode: SequentialAttempts}
	for _, p := range policies {
		switch ModeOf(p) {
		case ConcurrentAttempts:
			c.mode = ConcurrentAttempts
		case UndeclaredAttempts:
			if c.mode == SequentialAttempts {
				c.mode = UndeclaredAttempts
			}
		}
	}
	return c
}

// newFrame returns a frame for policies[from:].
func (c *chain) newFrame(from int) *frame {
	n := len(c.policies) - from
	f := &frame{steps: make([]step, n)}
	f.head = f.call
	for i := n - 1; i >= 0; i-- {
		s := &f.steps[i]
		s.chain, s.frame, s.index = c, f, from+i
		s.mode = ModeOf(c.policies[s.index])
		if i == n-1 {
			s.next = f.call
		} else {
			s.next = f.steps[i+1].run
		}
		f.head = s.run
	}
	return f
}

// execute runs one call of fn, or of a's attempts when fn is nil.
func (c *chain) execute(ctx context.Context, fn Func, a attempter) error {
	switch {
	case len(c.policies) == 0 && fn != nil:
		return fn(ctx)
	case len(c.policies) == 0:
		return a.attempt(ctx)
	case len(c.policies) == 1 && fn != nil && ModeOf(c.policies[0]) != UndeclaredAttempts:
		// fn is the caller's own: no pooled state to protect.
		return c.policies[0].Execute(ctx, fn)
	}
	f, _ := c.frames.Get().(*frame)
	if f == nil {
		// Made here rather than by the pool's New, a closure that would
		// cost every pipeline an allocation — and a registry of idle
		// pipelines 1.6 MB per hundred thousand.
		f = c.newFrame(0)
	}
	f.fn, f.a = fn, a
	err := f.head(ctx)
	// Not deferred: a frame whose call panicked is left to the collector
	// rather than reused in an unknown state.
	f.fn, f.a = nil, nil
	c.frames.Put(f)
	return err
}
