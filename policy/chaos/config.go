package chaos

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palisade-go/palisade/internal/inventory"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

// DefaultName is the name of a Chaos whose Config.Name is empty.
const DefaultName = "chaos"

// Config configures a [Chaos]. At least one of Fault and Latency must be
// set.
type Config struct {
	// Name names the policy in telemetry; default [DefaultName].
	Name string

	// Probability is the share of enabled calls affected, in (0, 1];
	// required, so that no zero value injects into every call by surprise.
	Probability float64

	// Fault, if set, is returned by an affected call instead of running
	// its function.
	Fault error

	// Latency, if set, is how long an affected call waits (or until its
	// context ends) before its fault or its function. Must be >= 0.
	Latency time.Duration

	// Enabled reports whether a call with ctx may be affected. Nil means
	// [Enabled]: a context marked with [Enable] or carrying the baggage
	// member palisade.chaos=on.
	Enabled func(ctx context.Context) bool

	// Telemetry is where the policy reports; nil means telemetry.Default().
	Telemetry *telemetry.Telemetry
}

// New returns a Chaos configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*Chaos, error) {
	if !(cfg.Probability > 0 && cfg.Probability <= 1) {
		return nil, fmt.Errorf("palisade/chaos: Config.Probability must be in (0, 1], got %v", cfg.Probability)
	}
	if cfg.Latency < 0 {
		return nil, fmt.Errorf("palisade/chaos: Config.Latency must be >= 0, got %v", cfg.Latency)
	}
	if cfg.Fault == nil && cfg.Latency == 0 {
		return nil, errors.New("palisade/chaos: Config.Fault or Config.Latency must be set: there is nothing to inject")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	return inventory.Track(&Chaos{
		name:        cfg.Name,
		probability: cfg.Probability,
		fault:       cfg.Fault,
		latency:     cfg.Latency,
		enabled:     cfg.Enabled,
		report:      report.NewChaos(cfg.Telemetry, cfg.Name),
	}, "chaos", func(c *Chaos) inventory.Facts {
		return inventory.Facts{"probability": c.probability, "latency": c.latency, "fault": c.fault != nil}
	}), nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *Chaos {
	c, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return c
}
