package chaos

import (
	"context"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/baggage"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
)

// BaggageKey is the OpenTelemetry baggage member that, set to "on",
// enables chaos for a call (and, through propagators, for the calls it
// leads to in other services).
const BaggageKey = "palisade.chaos"

// Chaos is a policy that injects faults and latency into the calls it is
// enabled for. It is safe for concurrent use.
type Chaos struct {
	name        string
	probability float64
	fault       error
	latency     time.Duration
	enabled     func(context.Context) bool
	report      *report.Chaos
}

var _ policy.ModalPolicy = (*Chaos)(nil)

// AttemptMode returns policy.SequentialAttempts: the function runs at most
// once, before Execute returns.
func (*Chaos) AttemptMode() policy.AttemptMode { return policy.SequentialAttempts }

// Name returns the policy's name.
func (c *Chaos) Name() string { return c.name }

// Execute runs fn, unless the call is enabled for chaos and drawn (with
// Config.Probability): then it waits Config.Latency, and returns
// Config.Fault without running fn if one is set, or runs fn. If ctx ends
// during the wait, Execute returns ctx.Err() and fn does not run.
func (c *Chaos) Execute(ctx context.Context, fn policy.Func) error {
	// The default rule's common case, a call not enabled, spelled out: two
	// context lookups, the rest out of line.
	if c.enabled == nil && ctx.Value(enabledKey{}) == nil && baggage.FromContext(ctx).Len() == 0 {
		return fn(ctx)
	}
	return c.execute(ctx, fn)
}

// execute is Execute past the common case.
func (c *Chaos) execute(ctx context.Context, fn policy.Func) error {
	if c.enabled == nil {
		if ctx.Value(enabledKey{}) == nil && !inBaggage(ctx) {
			return fn(ctx)
		}
	} else if !c.enabled(ctx) {
		return fn(ctx)
	}
	if c.probability < 1 && rand.Float64() >= c.probability {
		return fn(ctx)
	}
	if c.latency > 0 {
		c.report.Latency(ctx)
		t := time.NewTimer(c.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if c.fault != nil {
		c.report.Fault(ctx)
		return c.fault
	}
	return fn(ctx)
}

type enabledKey struct{}

// Enable returns a copy of ctx for whose calls chaos policies are enabled
// (those with the default Config.Enabled). The mark stays in this process;
// see [EnableWithBaggage] to carry it to other services.
func Enable(ctx context.Context) context.Context {
	return context.WithValue(ctx, enabledKey{}, true)
}

// EnableWithBaggage is [Enable], and also sets the baggage member
// palisade.chaos=on in ctx's OpenTelemetry baggage, which propagators
// carry to the services the call reaches.
func EnableWithBaggage(ctx context.Context) context.Context {
	m, err := baggage.NewMemberRaw(BaggageKey, "on")
	if err == nil {
		if b, err := baggage.FromContext(ctx).SetMember(m); err == nil {
			ctx = baggage.ContextWithBaggage(ctx, b)
		}
	}
	return Enable(ctx)
}

// Enabled reports whether ctx enables chaos by default: it was marked with
// [Enable], or its baggage has palisade.chaos=on.
func Enabled(ctx context.Context) bool {
	return ctx.Value(enabledKey{}) != nil || inBaggage(ctx)
}

// inBaggage reports whether ctx's baggage has palisade.chaos=on.
func inBaggage(ctx context.Context) bool {
	b := baggage.FromContext(ctx)
	// Member builds a value even for a missing key: ask only a non-empty
	// baggage.
	return b.Len() != 0 && b.Member(BaggageKey).Value() == "on"
}
