package timeout

import (
	"fmt"
	"time"

	"github.com/palisade-go/palisade/internal/inventory"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

// DefaultName is the name of a Timeout whose Config.Name is empty.
const DefaultName = "timeout"

// Config configures a [Timeout].
type Config struct {
	// Name names the policy in telemetry and errors; default [DefaultName].
	Name string
	// Duration is the longest a call may take; required, > 0.
	Duration time.Duration
	// Abandon makes the policy return at the deadline even if the
	// function ignores its context: the function runs on a goroutine of
	// its own and goes on, abandoned, until it returns (see the package
	// documentation). Default false: the policy waits for the function.
	Abandon bool
	// Telemetry is where the policy reports; nil means telemetry.Default().
	Telemetry *telemetry.Telemetry
}

// New returns a Timeout configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*Timeout, error) {
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("palisade/timeout: Config.Duration must be > 0, got %v", cfg.Duration)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	t := &Timeout{
		name:     cfg.Name,
		duration: cfg.Duration,
		abandon:  cfg.Abandon,
		report:   report.NewTimeout(cfg.Telemetry, cfg.Name),
	}
	if cfg.Abandon {
		report.ObserveAbandoned(cfg.Telemetry, cfg.Name, t, (*Timeout).abandonedNow)
	}
	inventory.Add(t, "timeout", func(t *Timeout) inventory.Facts {
		return inventory.Facts{"duration": t.duration, "abandon": t.abandon, "abandoned": t.Abandoned()}
	})
	return t, nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *Timeout {
	t, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return t
}
