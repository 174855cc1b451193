package policy

import (
	"context"
	"strconv"
	"sync"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

// Pipeline is a stack of policies run as one: the first policy is the
// outermost. A Pipeline is itself a [Policy], so pipelines nest. It is safe
// for concurrent use.
type Pipeline struct {
	name      string
	policies  []Policy
	chain     *chain
	telemetry *telemetry.Telemetry
	report    *report.Pipeline
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
	ps := append([]Policy(nil), policies...)
	return &Pipeline{
		name:      name,
		policies:  ps,
		chain:     newChain(ps),
		telemetry: telemetry.Default(),
		report:    report.NewPipeline(telemetry.Default(), name),
	}
}

// Name returns the pipeline's name.
func (p *Pipeline) Name() string { return p.name }

// WithTelemetry returns a copy of p that reports to t (nil meaning
// [telemetry.Default]); p is unchanged.
func (p *Pipeline) WithTelemetry(t *telemetry.Telemetry) *Pipeline {
	if t == nil {
		t = telemetry.Default()
	}
	c := *p
	c.telemetry = t
	c.report = report.NewPipeline(t, p.name)
	return &c
}

// Execute runs fn through the pipeline's policies, within a span named after
// the pipeline.
func (p *Pipeline) Execute(ctx context.Context, fn Func) (err error) {
	if p.report == nil {
		return p.chain.execute(ctx, fn)
	}
	ctx, call := p.report.Start(ctx)
	ended := false
	defer func() {
		if !ended { // fn panicked: end the span as a failure, let the panic go on
			call.End(ctx, panicked{})
		}
	}()
	err = p.chain.execute(ctx, fn)
	ended = true
	call.End(ctx, err)
	return err
}

// panicked is the outcome the pipeline's span and histogram report for a
// call whose function panicked; it is never returned.
type panicked struct{}

func (panicked) Error() string     { return "palisade: function panicked" }
func (panicked) ErrorType() string { return "panic" }

// chain is the pipeline's policies composed once, at construction, so that
// a call through N policies allocates no closure per policy. Each policy's
// "next" is a Func bound once to a frame: the per-call state (the function
// of the call) lives in the frame, and frames are recycled through a pool,
// so a call allocates nothing in the steady state. This is why a Policy must
// not call its fn after its Execute has returned.
type chain struct {
	policies []Policy
	frames   sync.Pool // *frame
}

// frame is the chain bound to one call at a time.
type frame struct {
	fn    Func   // the function of the call in progress
	steps []step // steps[i] runs policies[i]
	head  Func   // steps[0].run, bound once
}

type step struct {
	policy Policy
	next   Func // the next step's run, or the frame's call, bound once
}

func (s *step) run(ctx context.Context) error { return s.policy.Execute(ctx, s.next) }

func (f *frame) call(ctx context.Context) error { return f.fn(ctx) }

func newChain(policies []Policy) *chain {
	c := &chain{policies: policies}
	c.frames.New = func() any { return c.newFrame() }
	return c
}

func (c *chain) newFrame() *frame {
	n := len(c.policies)
	f := &frame{steps: make([]step, n)}
	for i := n - 1; i >= 0; i-- {
		s := &f.steps[i]
		s.policy = c.policies[i]
		if i == n-1 {
			s.next = f.call
		} else {
			s.next = f.steps[i+1].run
		}
	}
	f.head = f.steps[0].run
	return f
}

func (c *chain) execute(ctx context.Context, fn Func) error {
	switch len(c.policies) {
	case 0:
		return fn(ctx)
	case 1:
		return c.policies[0].Execute(ctx, fn)
	}
	f := c.frames.Get().(*frame)
	f.fn = fn
	err := f.head(ctx)
	// Not deferred: a frame whose call panicked is left to the collector
	// rather than reused in an unknown state.
	f.fn = nil
	c.frames.Put(f)
	return err
}
