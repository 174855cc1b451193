package config

import (
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/hedge"
)

func init() { Register("hedge", buildHedge) }

// HedgeSpec is the section of a hedge in a file.
type HedgeSpec struct {
	Name          string        `yaml:"name" doc:"Name in telemetry and errors; default: the pipeline's name."`
	Delay         time.Duration `yaml:"delay" doc:"How long an attempt runs before a hedge starts; default 0: a live latency quantile."`
	Quantile      float64       `yaml:"quantile" doc:"The latency quantile used as the delay when delay is 0; default 0.95."`
	MaxHedges     int           `yaml:"max_hedges" doc:"Hedges per call at the most; default 1."`
	MaxExtraRatio float64       `yaml:"max_extra_ratio" doc:"Hedges as a share of calls over a sliding window; default 0.1."`
	Budget        string        `yaml:"budget" doc:"The name of a shared budget (budgets section) bounding hedges instead of max_extra_ratio."`
}

func buildHedge(b *Build, s HedgeSpec) (policy.Policy, error) {
	cfg := hedge.Config{
		Name:          b.Name(s.Name),
		Delay:         s.Delay,
		Quantile:      s.Quantile,
		MaxHedges:     s.MaxHedges,
		MaxExtraRatio: s.MaxExtraRatio,
		Telemetry:     b.Telemetry,
	}
	if s.Budget != "" {
		bg, err := b.Budget(s.Budget)
		if err != nil {
			return nil, err
		}
		cfg.Budget = bg
	}
	if err := b.Customize(&cfg); err != nil {
		return nil, err
	}
	return hedge.New(cfg)
}
