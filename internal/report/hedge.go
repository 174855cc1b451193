package report

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/telemetry"
)

// Hedge reports one hedge policy: palisade.hedge.hedges by outcome and the
// palisade.hedge span event of each hedge started.
type Hedge struct {
	name      attribute.KeyValue
	won, lost *Counter
}

// Hedge outcomes, the values of palisade.hedge.outcome.
const (
	HedgeWon  = "won"
	HedgeLost = "lost"
)

// NewHedge returns the reporter of the hedge policy called name, or nil
// when t is disabled. Both outcome series start at 0.
func NewHedge(t *telemetry.Telemetry, name string) *Hedge {
	if t.IsDisabled() {
		return nil
	}
	m := t.Meter()
	nameAttr := semconv.PolicyNameKey.String(name)
	const desc = "Hedged attempts started by a hedge policy, by whether they won their call."
	return &Hedge{
		name: nameAttr,
		won:  NewCounter(m, semconv.HedgeHedges, "{hedge}", desc, "", nameAttr, semconv.HedgeOutcomeKey.String(HedgeWon)),
		lost: NewCounter(m, semconv.HedgeHedges, "{hedge}", desc, "", nameAttr, semconv.HedgeOutcomeKey.String(HedgeLost)),
	}
}

// Hedging reports that attempt (2, 3, …) starts after delay.
func (r *Hedge) Hedging(ctx context.Context, attempt int, delay time.Duration) {
	if r == nil {
		return
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		// Attempt numbers and delays vary per call: built only for a
		// recording span.
		span.AddEvent(semconv.HedgeEvent, trace.WithAttributes(
			r.name,
			semconv.HedgeAttemptKey.Int(attempt),
			semconv.HedgeDelayKey.Float64(delay.Seconds()),
		))
	}
}

// Ended reports the hedges of one call once it has ended: won is 1 when a
// hedge won it, lost the hedges that did not.
func (r *Hedge) Ended(ctx context.Context, won, lost int) {
	if r == nil {
		return
	}
	if won > 0 {
		r.won.counter.Add(ctx, int64(won), r.won.opts.Add...)
	}
	if lost > 0 {
		r.lost.counter.Add(ctx, int64(lost), r.lost.opts.Add...)
	}
}
