package config

import (
	"fmt"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/limiter"
	"github.com/palisade-go/palisade/policy/ratelimit"
	"github.com/palisade-go/palisade/policy/throttle"
)

func init() {
	Register("ratelimit", buildRateLimit)
	Register("limiter", buildLimiter)
	Register("throttle", buildThrottle)
}

// RateLimitSpec is the section of a rate limiter in a file.
type RateLimitSpec struct {
	Name    string        `yaml:"name" doc:"Name in telemetry and errors; default: the pipeline's name."`
	Rate    float64       `yaml:"rate" doc:"Permits per second; required, > 0."`
	Burst   int           `yaml:"burst" doc:"Permits that may be taken at once; default 1: smooth."`
	MaxWait time.Duration `yaml:"max_wait" doc:"Longest a call waits for a permit; default 0: refused at once."`
}

func buildRateLimit(b *Build, s RateLimitSpec) (policy.Policy, error) {
	cfg := ratelimit.Config{Name: b.Name(s.Name), Rate: s.Rate, Burst: s.Burst, MaxWait: s.MaxWait, Telemetry: b.Telemetry}
	if err := b.Customize(&cfg); err != nil {
		return nil, err
	}
	return ratelimit.New(cfg)
}

// LimiterSpec is the section of an adaptive concurrency limiter in a file.
type LimiterSpec struct {
	Name              string        `yaml:"name" doc:"Name in telemetry and errors; default: the pipeline's name."`
	Algorithm         string        `yaml:"algorithm" doc:"vegas (the default), gradient2 or aimd."`
	InitialLimit      int           `yaml:"initial_limit" doc:"The limit to start from; default 20."`
	MinLimit          int           `yaml:"min_limit" doc:"The lowest limit; default 1."`
	MaxLimit          int           `yaml:"max_limit" doc:"The highest limit; default 1000."`
	MaxQueue          int           `yaml:"max_queue" doc:"Calls that may wait for a slot; default 0: refused at once."`
	MaxWait           time.Duration `yaml:"max_wait" doc:"Longest wait in the queue; default: until the caller's context ends."`
	SampleWindow      time.Duration `yaml:"sample_window" doc:"How often the limit moves, at the most."`
	MinSamples        int           `yaml:"min_samples" doc:"Latency samples a window needs before the limit moves."`
	MaxHealthyLatency time.Duration `yaml:"max_healthy_latency" doc:"A call slower than this is a drop, whatever the baseline."`
	ProbeInterval     time.Duration `yaml:"probe_interval" doc:"How often the no-load latency is measured again."`
	Smoothing         float64       `yaml:"smoothing" doc:"Gradient2's smoothing of the limit."`
	Tolerance         float64       `yaml:"tolerance" doc:"Gradient2's tolerated ratio of short- to long-term latency."`
	Backoff           float64       `yaml:"backoff" doc:"AIMD's factor on a drop."`
}

var algorithms = map[string]limiter.Algorithm{
	"":          limiter.Vegas,
	"vegas":     limiter.Vegas,
	"gradient2": limiter.Gradient2,
	"aimd":      limiter.AIMD,
}

func buildLimiter(b *Build, s LimiterSpec) (policy.Policy, error) {
	alg, ok := algorithms[s.Algorithm]
	if !ok {
		return nil, fmt.Errorf("palisade/limiter: Config.Algorithm must be vegas, gradient2 or aimd, got %q", s.Algorithm)
	}
	cfg := limiter.Config{
		Name:              b.Name(s.Name),
		Algorithm:         alg,
		InitialLimit:      s.InitialLimit,
		MinLimit:          s.MinLimit,
		MaxLimit:          s.MaxLimit,
		MaxQueue:          s.MaxQueue,
		MaxWait:           s.MaxWait,
		SampleWindow:      s.SampleWindow,
		MinSamples:        s.MinSamples,
		MaxHealthyLatency: s.MaxHealthyLatency,
		ProbeInterval:     s.ProbeInterval,
		Smoothing:         s.Smoothing,
		Tolerance:         s.Tolerance,
		Backoff:           s.Backoff,
		Telemetry:         b.Telemetry,
	}
	if err := b.Customize(&cfg); err != nil {
		return nil, err
	}
	return limiter.New(cfg)
}

// ThrottleSpec is the section of an adaptive throttle in a file.
type ThrottleSpec struct {
	Name   string        `yaml:"name" doc:"Name in telemetry and errors; default: the pipeline's name."`
	Window time.Duration `yaml:"window" doc:"How far back requests and accepts are counted; default 2m."`
	K      float64       `yaml:"k" doc:"Requests allowed per accept before rejecting; default 2."`
}

func buildThrottle(b *Build, s ThrottleSpec) (policy.Policy, error) {
	cfg := throttle.Config{Name: b.Name(s.Name), Window: s.Window, K: s.K, Telemetry: b.Telemetry}
	if err := b.Customize(&cfg); err != nil {
		return nil, err
	}
	return throttle.New(cfg)
}
