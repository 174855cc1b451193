package policy

import (
	"context"
	"errors"
	"strconv"

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
	report    *telemetry.PipelineReporter
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
		report:    telemetry.Default().Pipeline(name),
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
	c.report = t.Pipeline(p.name)
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

// chain is the pipeline's policies composed once, at construction. Each link
// holds, as a Func bound once, the call into the next policy, so a call
// through N policies allocates no closure per policy: the function of the
// call reaches the innermost link through the context (one allocation per
// call, and none for pipelines of zero or one policy).
type chain struct {
	policies []Policy
	links    []link
	head     Func
}

type link struct {
	c      *chain
	policy Policy
	next   Func
}

// fnKey is the context key of the function of a call through c.
type fnKey struct{ c *chain }

func newChain(policies []Policy) *chain {
	c := &chain{policies: policies}
	if len(policies) < 2 {
		return c
	}
	c.links = make([]link, len(policies))
	for i := len(policies) - 1; i >= 0; i-- {
		l := &c.links[i]
		l.c, l.policy = c, policies[i]
		if i == len(policies)-1 {
			l.next = c.callFn
		} else {
			l.next = c.links[i+1].run
		}
	}
	c.head = c.links[0].run
	return c
}

func (c *chain) execute(ctx context.Context, fn Func) error {
	switch len(c.policies) {
	case 0:
		return fn(ctx)
	case 1:
		return c.policies[0].Execute(ctx, fn)
	}
	return c.head(context.WithValue(ctx, fnKey{c}, fn))
}

func (l *link) run(ctx context.Context) error {
	return l.policy.Execute(ctx, l.next)
}

// errLostContext is returned when a policy ran its function with a context
// not derived from the one it was given, breaking the Policy contract.
var errLostContext = errors.New("policy: a policy in the pipeline did not pass on its context")

func (c *chain) callFn(ctx context.Context) error {
	fn, ok := ctx.Value(fnKey{c}).(Func)
	if !ok {
		return errLostContext
	}
	return fn(ctx)
}
