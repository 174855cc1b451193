package config

import (
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/retry"
)

func init() { Register("retry", buildRetry) }

// RetrySpec is the section of a retry in a file. Code sets ShouldRetry,
// OnRetry or a backoff of its own with WithCustomizer.
type RetrySpec struct {
	Name          string        `yaml:"name" doc:"Name in telemetry and errors; default: the pipeline's name."`
	MaxAttempts   int           `yaml:"max_attempts" doc:"Attempts in all, the first included; default 3; -1 for unlimited."`
	MaxDuration   time.Duration `yaml:"max_duration" doc:"No retry whose delay would end later than this after the first attempt; default none."`
	MaxRetryAfter time.Duration `yaml:"max_retry_after" doc:"Longest Retry-After hint waited for; default 1s."`
	BackOff       BackOffSpec   `yaml:"backoff" doc:"Exponential delays between attempts; each field defaults to retry.DefaultBackOff's."`
	Budget        string        `yaml:"budget" doc:"Name of a shared retry budget of the budgets section; default none."`
}

// BackOffSpec is the exponential backoff of a retry: zero fields take the
// values of retry.DefaultBackOff. A multiplier of 1 and no_jitter make a
// constant delay.
type BackOffSpec struct {
	InitialInterval     time.Duration `yaml:"initial_interval" doc:"First delay; default 100ms."`
	Multiplier          float64       `yaml:"multiplier" doc:"Growth of each delay, >= 1; default 2."`
	RandomizationFactor float64       `yaml:"randomization_factor" doc:"Jitter: each delay randomized by ± this fraction, in [0, 1]; default 0.5 (0 means the default: set no_jitter for none)."`
	MaxInterval         time.Duration `yaml:"max_interval" doc:"Longest delay; default 10s."`
	NoJitter            bool          `yaml:"no_jitter" doc:"Delays without randomization (randomization_factor ignored)."`
}

func buildRetry(b *Build, s RetrySpec) (policy.Policy, error) {
	cfg := retry.Config{
		Name:          b.Name(s.Name),
		MaxAttempts:   s.MaxAttempts,
		MaxDuration:   s.MaxDuration,
		MaxRetryAfter: s.MaxRetryAfter,
		Telemetry:     b.Telemetry,
	}
	if s.BackOff != (BackOffSpec{}) {
		bo, err := s.BackOff.backOff()
		if err != nil {
			return nil, err
		}
		cfg.BackOff = bo
	}
	if s.Budget != "" {
		bud, err := b.Budget(s.Budget)
		if err != nil {
			return nil, fmt.Errorf("Config.Budget: %w", err)
		}
		cfg.Budget = bud
	}
	if err := b.Customize(&cfg); err != nil {
		return nil, err
	}
	return retry.New(cfg)
}

// backOff validates s and returns the function making its backoffs.
func (s BackOffSpec) backOff() (func() backoff.BackOff, error) {
	switch {
	case s.InitialInterval < 0:
		return nil, fmt.Errorf("Config.BackOff.InitialInterval must be >= 0, got %v", s.InitialInterval)
	case s.Multiplier != 0 && !(s.Multiplier >= 1):
		return nil, fmt.Errorf("Config.BackOff.Multiplier must be >= 1, got %v", s.Multiplier)
	case !(s.RandomizationFactor >= 0 && s.RandomizationFactor <= 1):
		return nil, fmt.Errorf("Config.BackOff.RandomizationFactor must be in [0, 1], got %v", s.RandomizationFactor)
	case s.MaxInterval < 0:
		return nil, fmt.Errorf("Config.BackOff.MaxInterval must be >= 0, got %v", s.MaxInterval)
	}
	initial, mult, jitter, maxInterval := retry.DefaultInitialInterval, retry.DefaultMultiplier, retry.DefaultRandomizationFactor, retry.DefaultMaxInterval
	if s.InitialInterval > 0 {
		initial = s.InitialInterval
	}
	if s.Multiplier > 0 {
		mult = s.Multiplier
	}
	if s.RandomizationFactor > 0 {
		jitter = s.RandomizationFactor
	}
	if s.NoJitter {
		jitter = 0
	}
	if s.MaxInterval > 0 {
		maxInterval = s.MaxInterval
	}
	if maxInterval < initial {
		return nil, fmt.Errorf("Config.BackOff.MaxInterval (%v) must be >= InitialInterval (%v)", maxInterval, initial)
	}
	return func() backoff.BackOff {
		b := &backoff.ExponentialBackOff{
			InitialInterval:     initial,
			RandomizationFactor: jitter,
			Multiplier:          mult,
			MaxInterval:         maxInterval,
			Stop:                backoff.Stop,
			Clock:               backoff.SystemClock,
		}
		b.Reset()
		return b
	}, nil
}
