package bulkhead

import (
	"fmt"
	"time"

	"github.com/palisade-go/palisade/internal/gate"
	"github.com/palisade-go/palisade/internal/inventory"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

// Defaults of the Config fields left zero.
const (
	// DefaultName names a bulkhead whose Config.Name is empty.
	DefaultName = "bulkhead"
	// DefaultMaxConcurrent is the MaxConcurrent of a Config that leaves it
	// zero.
	DefaultMaxConcurrent = 100
)

// Config configures a [Bulkhead]. The zero value is valid: at most 100 calls
// at once, no queue.
type Config struct {
	// Name names the policy in telemetry and errors; default [DefaultName].
	Name string
	// MaxConcurrent is how many calls may run at once; default 100
	// ([DefaultMaxConcurrent]). Must not be negative.
	MaxConcurrent int
	// MaxQueue is how many calls beyond MaxConcurrent may wait, first come
	// first served, for a slot; default 0: a call finding every slot taken
	// is refused at once. Must not be negative.
	MaxQueue int
	// MaxWait is the longest a call waits in the queue; one still waiting
	// when it passes is refused with an error matching ErrFull. Default 0:
	// wait until the caller's context ends. Must not be negative.
	MaxWait time.Duration
	// Telemetry is where the policy reports; nil means telemetry.Default().
	Telemetry *telemetry.Telemetry
}

// maxLimit bounds MaxConcurrent: the in-flight count shares its word with
// the gate's queue flag and counter.
const maxLimit = gate.MaxLimit

// New returns a Bulkhead configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*Bulkhead, error) {
	switch {
	case cfg.MaxConcurrent < 0:
		return nil, fmt.Errorf("palisade/bulkhead: Config.MaxConcurrent must be >= 0 (0 means %d), got %d", DefaultMaxConcurrent, cfg.MaxConcurrent)
	case int64(cfg.MaxConcurrent) > maxLimit:
		return nil, fmt.Errorf("palisade/bulkhead: Config.MaxConcurrent must be <= %d, got %d", int64(maxLimit), cfg.MaxConcurrent)
	case cfg.MaxQueue < 0:
		return nil, fmt.Errorf("palisade/bulkhead: Config.MaxQueue must be >= 0 (0 means no queue), got %d", cfg.MaxQueue)
	case cfg.MaxWait < 0:
		return nil, fmt.Errorf("palisade/bulkhead: Config.MaxWait must be >= 0 (0 means until the context ends), got %v", cfg.MaxWait)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	b := &Bulkhead{
		max:      int64(cfg.MaxConcurrent),
		maxQueue: cfg.MaxQueue,
		maxWait:  cfg.MaxWait,
		name:     cfg.Name,
		errFull:  &Error{Policy: cfg.Name},
		errWait:  &Error{Policy: cfg.Name, Waited: cfg.MaxWait},
	}
	b.gate.Init(b.max, b.maxQueue, b.maxWait)
	b.rejected = report.NewBulkhead(cfg.Telemetry, cfg.Name, errorType, b, (*Bulkhead).observe)
	inventory.Add(b, "bulkhead", func(b *Bulkhead) inventory.Facts {
		return inventory.Facts{"max_queue": b.maxQueue, "max_wait": b.maxWait}
	})
	return b, nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *Bulkhead {
	b, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return b
}
