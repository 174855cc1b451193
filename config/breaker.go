package config

import (
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
)

func init() { Register("breaker", buildBreaker) }

// BreakerSpec is the section of a breaker in a file: the fields of
// breaker.Config that a file can hold, zero meaning the same defaults. Code
// sets the others (IsFailure, IsIgnored, OnStateChange, BreakDurationFunc)
// with WithCustomizer.
type BreakerSpec struct {
	Name                string        `yaml:"name" doc:"Name in telemetry and errors; default: the pipeline's name."`
	FailureRatio        float64       `yaml:"failure_ratio" doc:"Opens when failures/calls in the window reach it, in (0, 1]; default 0.5."`
	MinimumThroughput   int           `yaml:"minimum_throughput" doc:"Calls the window must hold before a ratio may open the breaker; default 10."`
	WindowSize          int           `yaml:"window_size" doc:"Count window: the last N outcomes; default 100. Not with window_duration."`
	WindowDuration      time.Duration `yaml:"window_duration" doc:"Time window instead: the outcomes of the last duration, such as 30s."`
	SlowCallDuration    time.Duration `yaml:"slow_call_duration" doc:"A call longer than this is slow; default off."`
	SlowCallRatio       float64       `yaml:"slow_call_ratio" doc:"Opens when slow calls/calls reach it, with slow_call_duration; default 1.0."`
	ConsecutiveFailures int           `yaml:"consecutive_failures" doc:"Also opens after N failures in a row; default off."`
	BreakDuration       time.Duration `yaml:"break_duration" doc:"How long the breaker stays open; default 30s."`
	SuccessThreshold    int           `yaml:"success_threshold" doc:"Successful trial calls in half-open that close it; default 3."`
	HalfOpenCalls       int           `yaml:"half_open_calls" doc:"Trial calls in flight at once; default success_threshold."`
}

func buildBreaker(b *Build, s BreakerSpec) (policy.Policy, error) {
	cfg := breaker.Config{
		Name:                b.Name(s.Name),
		FailureRatio:        s.FailureRatio,
		MinimumThroughput:   s.MinimumThroughput,
		WindowSize:          s.WindowSize,
		WindowDuration:      s.WindowDuration,
		SlowCallDuration:    s.SlowCallDuration,
		SlowCallRatio:       s.SlowCallRatio,
		ConsecutiveFailures: s.ConsecutiveFailures,
		BreakDuration:       s.BreakDuration,
		SuccessThreshold:    s.SuccessThreshold,
		HalfOpenCalls:       s.HalfOpenCalls,
		Telemetry:           b.Telemetry,
	}
	if err := b.Customize(&cfg); err != nil {
		return nil, err
	}
	return breaker.New(cfg)
}
