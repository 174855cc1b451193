package hedge

import (
	"fmt"
	"math"
	"time"

	"github.com/palisade-go/palisade/internal/inventory"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/telemetry"
)

// Defaults of a Config's zero fields.
const (
	// DefaultName is the name of a Hedge whose Config.Name is empty.
	DefaultName = "hedge"
	// DefaultQuantile is the latency quantile after which a hedge starts
	// when Config.Delay is 0.
	DefaultQuantile = 0.95
	// DefaultMaxHedges is the most hedges per call.
	DefaultMaxHedges = 1
	// DefaultMaxExtraRatio bounds the hedges to this share of the calls.
	DefaultMaxExtraRatio = 0.1
	// DefaultWindow is how far back calls and hedges are counted for
	// MaxExtraRatio.
	DefaultWindow = 10 * time.Second
)

// Config configures a [Hedge].
type Config struct {
	// Name names the policy in telemetry; default [DefaultName].
	Name string

	// Delay is how long an attempt runs before the next one starts. Zero
	// means a live estimate of the Quantile of recent latencies, with no
	// hedge until enough calls have been seen. Must be >= 0.
	Delay time.Duration

	// Quantile is the latency quantile used when Delay is 0: with 0.95, a
	// call slower than 95% of recent ones is hedged. Default
	// [DefaultQuantile]; must be in (0, 1). Must be 0 when Delay is set.
	Quantile float64

	// MaxHedges is the most attempts started per call besides the first;
	// default [DefaultMaxHedges]. Must be >= 0 (0 meaning the default).
	MaxHedges int

	// MaxExtraRatio bounds the hedges started over the last
	// [DefaultWindow] to this share of the calls: with 0.1, hedging adds
	// at most 10% to the dependency's load, however slow it gets. Default
	// [DefaultMaxExtraRatio]; must be a finite number >= 0 (0 meaning the
	// default). Must be 0 when Budget is set.
	MaxExtraRatio float64

	// Budget, if set, replaces MaxExtraRatio: a budget shared with other
	// policies (the retries calling the same dependency) that every call
	// is counted in and every hedge must fit. A hedge the budget refuses
	// is not started; attempts already running go on.
	Budget *budget.Budget

	// Telemetry is where the policy reports; nil means telemetry.Default().
	Telemetry *telemetry.Telemetry
}

// New returns a Hedge configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*Hedge, error) {
	if cfg.Delay < 0 {
		return nil, fmt.Errorf("palisade/hedge: Config.Delay must be >= 0, got %v", cfg.Delay)
	}
	if cfg.Delay > 0 && cfg.Quantile != 0 {
		return nil, fmt.Errorf("palisade/hedge: Config.Quantile must be 0 when Config.Delay is set (the delay is fixed), got %v", cfg.Quantile)
	}
	if cfg.Quantile == 0 {
		cfg.Quantile = DefaultQuantile
	}
	if !(cfg.Quantile > 0 && cfg.Quantile < 1) {
		return nil, fmt.Errorf("palisade/hedge: Config.Quantile must be in (0, 1), got %v", cfg.Quantile)
	}
	if cfg.MaxHedges < 0 {
		return nil, fmt.Errorf("palisade/hedge: Config.MaxHedges must be >= 0, got %d", cfg.MaxHedges)
	}
	if cfg.MaxHedges == 0 {
		cfg.MaxHedges = DefaultMaxHedges
	}
	if !(cfg.MaxExtraRatio >= 0) || math.IsInf(cfg.MaxExtraRatio, 0) {
		return nil, fmt.Errorf("palisade/hedge: Config.MaxExtraRatio must be a finite number >= 0, got %v", cfg.MaxExtraRatio)
	}
	if cfg.Budget != nil && cfg.MaxExtraRatio != 0 {
		return nil, fmt.Errorf("palisade/hedge: Config.MaxExtraRatio must be 0 when Config.Budget is set (the budget bounds the hedges), got %v", cfg.MaxExtraRatio)
	}
	b := cfg.Budget
	if b == nil {
		if cfg.MaxExtraRatio == 0 {
			cfg.MaxExtraRatio = DefaultMaxExtraRatio
		}
		b = budget.Must(budget.Config{Ratio: cfg.MaxExtraRatio, Window: DefaultWindow})
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	h := &Hedge{
		name:      cfg.Name,
		delay:     cfg.Delay,
		maxHedges: cfg.MaxHedges,
		budget:    b,
		report:    report.NewHedge(cfg.Telemetry, cfg.Name),
	}
	if cfg.Delay == 0 {
		h.quantile = newQuantile(cfg.Quantile)
	}
	inventory.Add(h, "hedge", func(h *Hedge) inventory.Facts {
		delay, ok := h.Delay()
		if !ok {
			return inventory.Facts{"max_hedges": h.maxHedges, "delay": "learning"}
		}
		return inventory.Facts{"max_hedges": h.maxHedges, "delay": delay}
	})
	return h, nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *Hedge {
	h, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return h
}
