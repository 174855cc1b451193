package ratelimit

import (
	"fmt"
	"math"
	"time"

	"github.com/palisade-go/palisade/internal/inventory"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

// DefaultName is the name of a RateLimiter whose Config.Name is empty.
const DefaultName = "ratelimit"

// DefaultBurst is the Burst of a Config that leaves it zero: smooth
// limiting, calls spaced at least 1/Rate apart.
const DefaultBurst = 1

// maxSpan bounds Burst × the emission interval, the furthest ahead of now
// the limiter's state may run (about 36 years), so that no arithmetic on it
// overflows.
const maxSpan = 1 << 60

// Config configures a [RateLimiter].
type Config struct {
	// Name names the policy in telemetry and errors; default [DefaultName].
	Name string
	// Rate is how many permits the limiter grants per second; required,
	// > 0 and finite. A Rate above 1e9 acts as 1e9.
	Rate float64
	// Burst is how many permits may be granted at once after a quiet
	// spell; default [DefaultBurst]. Must not be negative.
	Burst int
	// MaxWait is the longest a call waits for a permit; default 0: a call
	// finding none is refused at once. Must not be negative.
	MaxWait time.Duration
	// Telemetry is where the policy reports; nil means telemetry.Default().
	Telemetry *telemetry.Telemetry
}

// New returns a RateLimiter configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*RateLimiter, error) {
	switch {
	case math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) || cfg.Rate <= 0:
		return nil, fmt.Errorf("palisade/ratelimit: Config.Rate must be > 0 and finite, got %v", cfg.Rate)
	case cfg.Burst < 0:
		return nil, fmt.Errorf("palisade/ratelimit: Config.Burst must be >= 0 (0 means %d), got %d", DefaultBurst, cfg.Burst)
	case cfg.MaxWait < 0:
		return nil, fmt.Errorf("palisade/ratelimit: Config.MaxWait must be >= 0, got %v", cfg.MaxWait)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	// The interval is rounded up: the limiter may grant a little less than
	// Rate, never more.
	interval := math.Ceil(1e9 / cfg.Rate)
	if interval*float64(cfg.Burst) > maxSpan {
		return nil, fmt.Errorf("palisade/ratelimit: Config.Burst / Config.Rate must be at most %v, got %d / %v", time.Duration(maxSpan), cfg.Burst, cfg.Rate)
	}
	l := &RateLimiter{
		name:     cfg.Name,
		rate:     cfg.Rate,
		burst:    cfg.Burst,
		interval: int64(interval),
		span:     int64(interval) * int64(cfg.Burst),
		maxWait:  int64(cfg.MaxWait),
		epoch:    time.Now(),
	}
	l.rejected = report.NewRateLimit(cfg.Telemetry, cfg.Name, errorType, l, (*RateLimiter).Available)
	inventory.Add(l, "ratelimit", func(l *RateLimiter) inventory.Facts {
		return inventory.Facts{"rate": l.Rate(), "burst": l.Burst(), "available": l.Available(), "max_wait": time.Duration(l.maxWait)}
	})
	return l, nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *RateLimiter {
	l, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return l
}
