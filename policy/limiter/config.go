package limiter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/palisade-go/palisade/internal/inventory"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

// Algorithm is how a [Limiter] moves its limit.
type Algorithm int

const (
	// Vegas, the default, estimates the queue at the dependency from how
	// far latency is above its no-load baseline (TCP Vegas, as in Netflix's
	// concurrency-limits VegasLimit): it grows the limit while that queue
	// is below alpha = 3·log10(limit) and shrinks it above beta =
	// 6·log10(limit), each capped by the concurrency the dependency serves
	// without a queue (alpha by half of it).
	Vegas Algorithm = iota
	// Gradient2 scales the limit by the ratio of long-term to short-term
	// latency, tolerating Tolerance× before shrinking, smoothed by
	// Smoothing (Netflix's Gradient2Limit).
	Gradient2
	// AIMD adds 1 to the limit per window while the limit is in use, and
	// multiplies it by Backoff after a window with a dropped call (a
	// timeout, or a call slower than MaxHealthyLatency).
	AIMD
)

// String returns "vegas", "gradient2" or "aimd".
func (a Algorithm) String() string {
	switch a {
	case Vegas:
		return "vegas"
	case Gradient2:
		return "gradient2"
	case AIMD:
		return "aimd"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// Defaults of a Config's zero fields, and the algorithms' fixed constants.
const (
	DefaultName          = "limiter"
	DefaultInitialLimit  = 20
	DefaultMinLimit      = 1
	DefaultMaxLimit      = 1000
	DefaultSampleWindow  = 100 * time.Millisecond
	DefaultMinSamples    = 10
	DefaultProbeInterval = 30 * time.Second
	DefaultSmoothing     = 0.2 // Gradient2
	DefaultTolerance     = 1.5 // Gradient2
	DefaultBackoff       = 0.9 // AIMD

	// ProbeLimit is the concurrency at which Vegas and Gradient2 measure
	// the dependency's no-load latency (or MinLimit, if larger).
	ProbeLimit = 3
	// VegasAlpha and VegasBeta are the factors of log10(limit) giving the
	// queue estimate below which Vegas grows the limit and above which it
	// shrinks it, capped for a small dependency (see Vegas).
	VegasAlpha = 3
	VegasBeta  = 6
	// Gradient2Queue is the headroom Gradient2 adds to the limit the
	// gradient gives.
	Gradient2Queue = 4

	maxAnyLimit = 1 << 30
)

// Config configures a [Limiter]. The zero value is valid: Vegas, starting
// at 20 calls at once, between 1 and 1000, no queue.
type Config struct {
	// Name names the policy in telemetry and errors; default [DefaultName].
	Name string
	// Algorithm moves the limit; default [Vegas].
	Algorithm Algorithm
	// InitialLimit is the limit before any sample; default
	// [DefaultInitialLimit], kept within [MinLimit, MaxLimit] when those
	// are set.
	InitialLimit int
	// MinLimit and MaxLimit bound the limit; defaults [DefaultMinLimit] and
	// [DefaultMaxLimit]. 1 <= MinLimit <= InitialLimit <= MaxLimit <= 2^30.
	MinLimit, MaxLimit int
	// MaxQueue is how many calls beyond the limit may wait, first come
	// first served, for a slot; default 0: a call finding the limit
	// reached is refused at once.
	MaxQueue int
	// MaxWait is the longest a call waits in the queue; default 0: until
	// its context ends.
	MaxWait time.Duration
	// SampleWindow and MinSamples say how often the limit moves: once per
	// window of at least SampleWindow holding at least MinSamples
	// measured calls (or a dropped call); defaults [DefaultSampleWindow]
	// and [DefaultMinSamples].
	SampleWindow time.Duration
	MinSamples   int
	// MaxHealthyLatency, when > 0, is the latency above which a call
	// counts as dropped: the limit never grows on such calls, and shrinks
	// (as after a timeout). It is the guard against a dependency where
	// every call is slow in the same way (all timing out at the same
	// latency), which a latency gradient alone reads as "no queue".
	MaxHealthyLatency time.Duration
	// ProbeInterval is how often Vegas and Gradient2 re-measure the
	// no-load latency, by holding the limit at ProbeLimit for one window;
	// default [DefaultProbeInterval]. The first probe follows the first
	// window. Ignored by AIMD.
	ProbeInterval time.Duration
	// Smoothing (Gradient2) weighs each new limit against the last, in
	// (0, 1]; default [DefaultSmoothing].
	Smoothing float64
	// Tolerance (Gradient2) is how many times its long-term latency the
	// short-term latency may reach before the limit shrinks, >= 1; default
	// [DefaultTolerance].
	Tolerance float64
	// Backoff (AIMD) multiplies the limit after a window with a dropped
	// call, in (0, 1); default [DefaultBackoff].
	Backoff float64
	// IsDropped says which errors of the function are signs of overload
	// (the call was dropped): default, an error matching
	// context.DeadlineExceeded while the caller's own context is still
	// live (an inner timeout fired). Other errors are not measured. A
	// rejection by an inner policy (policy.ErrRejected) and a call whose
	// caller's context ended are never measured nor counted as drops.
	IsDropped func(error) bool
	// Telemetry is where the policy reports; nil means telemetry.Default().
	Telemetry *telemetry.Telemetry
}

func isDeadline(err error) bool { return errors.Is(err, context.DeadlineExceeded) }

// New returns a Limiter configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*Limiter, error) {
	bad := func(field, rule string, got any) error {
		return fmt.Errorf("palisade/limiter: Config.%s must be %s, got %v", field, rule, got)
	}
	switch {
	case cfg.Algorithm < Vegas || cfg.Algorithm > AIMD:
		return nil, bad("Algorithm", "Vegas, Gradient2 or AIMD", cfg.Algorithm)
	case cfg.MinLimit < 0 || cfg.MinLimit > maxAnyLimit:
		return nil, bad("MinLimit", fmt.Sprintf("in [0, %d] (0 means %d)", maxAnyLimit, DefaultMinLimit), cfg.MinLimit)
	case cfg.MaxLimit < 0 || cfg.MaxLimit > maxAnyLimit:
		return nil, bad("MaxLimit", fmt.Sprintf("in [0, %d] (0 means %d)", maxAnyLimit, DefaultMaxLimit), cfg.MaxLimit)
	case cfg.InitialLimit < 0 || cfg.InitialLimit > maxAnyLimit:
		return nil, bad("InitialLimit", fmt.Sprintf("in [0, %d] (0 means %d)", maxAnyLimit, DefaultInitialLimit), cfg.InitialLimit)
	case cfg.MaxQueue < 0:
		return nil, bad("MaxQueue", ">= 0", cfg.MaxQueue)
	case cfg.MaxWait < 0:
		return nil, bad("MaxWait", ">= 0 (0 means until the context ends)", cfg.MaxWait)
	case cfg.SampleWindow < 0:
		return nil, bad("SampleWindow", ">= 0", cfg.SampleWindow)
	case cfg.MinSamples < 0:
		return nil, bad("MinSamples", ">= 0", cfg.MinSamples)
	case cfg.MaxHealthyLatency < 0:
		return nil, bad("MaxHealthyLatency", ">= 0 (0 means no guard)", cfg.MaxHealthyLatency)
	case cfg.ProbeInterval < 0:
		return nil, bad("ProbeInterval", ">= 0", cfg.ProbeInterval)
	case math.IsNaN(cfg.Smoothing) || cfg.Smoothing < 0 || cfg.Smoothing > 1:
		return nil, bad("Smoothing", "in (0, 1] (0 means 0.2)", cfg.Smoothing)
	case math.IsNaN(cfg.Tolerance) || math.IsInf(cfg.Tolerance, 0) || (cfg.Tolerance != 0 && cfg.Tolerance < 1):
		return nil, bad("Tolerance", ">= 1 and finite (0 means 1.5)", cfg.Tolerance)
	case math.IsNaN(cfg.Backoff) || cfg.Backoff < 0 || cfg.Backoff >= 1:
		return nil, bad("Backoff", "in (0, 1) (0 means 0.9)", cfg.Backoff)
	}
	// Defaults for what was left zero, kept within what was set.
	minSet, maxSet := cfg.MinLimit != 0, cfg.MaxLimit != 0
	if !minSet {
		cfg.MinLimit = DefaultMinLimit
	}
	if !maxSet {
		cfg.MaxLimit = max(DefaultMaxLimit, cfg.MinLimit)
	}
	if cfg.MinLimit > cfg.MaxLimit {
		return nil, fmt.Errorf("palisade/limiter: Config.MinLimit must be <= Config.MaxLimit, got %d > %d", cfg.MinLimit, cfg.MaxLimit)
	}
	if cfg.InitialLimit == 0 {
		cfg.InitialLimit = min(max(DefaultInitialLimit, cfg.MinLimit), cfg.MaxLimit)
	} else if cfg.InitialLimit < cfg.MinLimit || cfg.InitialLimit > cfg.MaxLimit {
		return nil, fmt.Errorf("palisade/limiter: Config.InitialLimit must be within [Config.MinLimit, Config.MaxLimit] = [%d, %d], got %d", cfg.MinLimit, cfg.MaxLimit, cfg.InitialLimit)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.SampleWindow == 0 {
		cfg.SampleWindow = DefaultSampleWindow
	}
	if cfg.MinSamples == 0 {
		cfg.MinSamples = DefaultMinSamples
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.Smoothing == 0 {
		cfg.Smoothing = DefaultSmoothing
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.IsDropped == nil {
		cfg.IsDropped = isDeadline
	}
	l := &Limiter{
		name:       cfg.Name,
		algorithm:  cfg.Algorithm,
		minLimit:   float64(cfg.MinLimit),
		maxLimit:   float64(cfg.MaxLimit),
		window:     int64(cfg.SampleWindow),
		minSamples: int64(cfg.MinSamples),
		maxHealthy: int64(cfg.MaxHealthyLatency),
		probeEvery: int64(cfg.ProbeInterval),
		probeLimit: max(ProbeLimit, cfg.MinLimit),
		smoothing:  cfg.Smoothing,
		tolerance:  cfg.Tolerance,
		backoff:    cfg.Backoff,
		isDropped:  cfg.IsDropped,
		epoch:      time.Now(),
		errFull:    &Error{Policy: cfg.Name},
		errWait:    &Error{Policy: cfg.Name, Waited: cfg.MaxWait},
		estimate:   float64(cfg.InitialLimit),
		reported:   cfg.InitialLimit,
	}
	l.gate.Init(int64(cfg.InitialLimit), cfg.MaxQueue, cfg.MaxWait)
	l.minRTT.Store(math.MaxInt64)
	l.report = report.NewLimiter(cfg.Telemetry, cfg.Name, errorType, l, (*Limiter).observe)
	inventory.Add(l, "limiter", func(l *Limiter) inventory.Facts {
		return inventory.Facts{"algorithm": l.algorithm.String(), "limit": l.Limit(), "in_flight": l.InFlight(), "queued": l.Queued()}
	})
	return l, nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *Limiter {
	l, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return l
}
