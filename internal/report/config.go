package report

import (
	"context"

	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/telemetry"
)

// Config reports the reloads of a watched configuration file:
// palisade.config.reloads, by palisade.config.outcome.
type Config struct {
	success, failure *Counter
}

// NewConfig returns the reporter of a watched configuration, or nil when t
// is disabled. Both outcomes' series start at 0.
func NewConfig(t *telemetry.Telemetry) *Config {
	if t.IsDisabled() {
		return nil
	}
	m := t.Meter()
	const desc = "Reloads of a watched palisade configuration file, by outcome: a failed one keeps the running pipelines."
	return &Config{
		success: NewCounter(m, semconv.ConfigReloads, "{reload}", desc, "",
			semconv.ConfigOutcomeKey.String(semconv.ConfigOutcomeSuccess)),
		failure: NewCounter(m, semconv.ConfigReloads, "{reload}", desc, "",
			semconv.ConfigOutcomeKey.String(semconv.ConfigOutcomeFailure)),
	}
}

// Reloaded reports one reload, which succeeded unless failed.
func (r *Config) Reloaded(failed bool) {
	if r == nil {
		return
	}
	if failed {
		r.failure.Inc(context.Background())
	} else {
		r.success.Inc(context.Background())
	}
}
