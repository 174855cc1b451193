package fallback

import (
	"context"
	"errors"

	"github.com/palisade-go/palisade/internal/inventory"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

// DefaultName is the name of a Fallback whose Config.Name is empty.
const DefaultName = "fallback"

// Config configures a [Fallback].
type Config struct {
	// Name names the policy in telemetry; default [DefaultName].
	Name string

	// Handles reports whether the outcome of a call that failed with err
	// is replaced. Nil means every error but the caller's cancellation
	// (see [Fallback.Execute]).
	Handles func(err error) bool

	// Fallback returns the outcome of a call that failed with a handled
	// err: nil for a success, or the error to return instead. ctx is the
	// caller's. Required.
	Fallback func(ctx context.Context, err error) error

	// Telemetry is where the policy reports; nil means telemetry.Default().
	Telemetry *telemetry.Telemetry
}

// New returns a Fallback configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*Fallback, error) {
	if cfg.Fallback == nil {
		return nil, errors.New("palisade/fallback: Config.Fallback is required, got nil")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	return inventory.Track(&Fallback{
		name:     cfg.Name,
		handles:  cfg.Handles,
		fallback: cfg.Fallback,
		report:   report.NewFallback(cfg.Telemetry, cfg.Name),
	}, "fallback", nil), nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *Fallback {
	f, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return f
}
