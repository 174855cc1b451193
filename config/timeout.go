package config

import (
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/timeout"
)

func init() { Register("timeout", buildTimeout) }

// TimeoutSpec is the section of a timeout in a file.
type TimeoutSpec struct {
	Name     string        `yaml:"name" doc:"Name in telemetry and errors; default: the pipeline's name."`
	Duration time.Duration `yaml:"duration" doc:"The longest a call may take, such as 250ms; required."`
}

func buildTimeout(b *Build, s TimeoutSpec) (policy.Policy, error) {
	cfg := timeout.Config{Name: b.Name(s.Name), Duration: s.Duration, Telemetry: b.Telemetry}
	if err := b.Customize(&cfg); err != nil {
		return nil, err
	}
	return timeout.New(cfg)
}
