package config

import (
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/bulkhead"
)

func init() { Register("bulkhead", buildBulkhead) }

// BulkheadSpec is the section of a bulkhead in a file.
type BulkheadSpec struct {
	Name          string        `yaml:"name" doc:"Name in telemetry and errors; default: the pipeline's name."`
	MaxConcurrent int           `yaml:"max_concurrent" doc:"Calls that may run at once; default 100."`
	MaxQueue      int           `yaml:"max_queue" doc:"Calls that may wait for a slot; default 0: refused at once."`
	MaxWait       time.Duration `yaml:"max_wait" doc:"Longest wait in the queue; default: until the caller's context ends."`
}

func buildBulkhead(b *Build, s BulkheadSpec) (policy.Policy, error) {
	cfg := bulkhead.Config{
		Name:          b.Name(s.Name),
		MaxConcurrent: s.MaxConcurrent,
		MaxQueue:      s.MaxQueue,
		MaxWait:       s.MaxWait,
		Telemetry:     b.Telemetry,
	}
	if err := b.Customize(&cfg); err != nil {
		return nil, err
	}
	return bulkhead.New(cfg)
}
