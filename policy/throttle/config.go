package throttle

import (
	"fmt"
	"math"
	"time"

	"github.com/palisade-go/palisade/internal/inventory"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

// Defaults of a Config's zero fields.
const (
	DefaultName   = "throttle"
	DefaultWindow = 2 * time.Minute
	DefaultK      = 2.0
)

// buckets is the number of buckets of the window.
const buckets = 16

// Config configures a [Throttle]. The zero value is valid.
type Config struct {
	// Name names the policy in telemetry and errors; default [DefaultName].
	Name string
	// Window is how far back requests and accepts are counted; default
	// [DefaultWindow]; at least 16 ns (one per bucket).
	Window time.Duration
	// K is how many requests per accept pass without rejection; >= 1,
	// default [DefaultK]. Lower is more aggressive.
	K float64
	// IsAccepted says whether the dependency accepted a call that returned
	// err; default: err == nil. A call whose caller's context ended is
	// never counted.
	IsAccepted func(err error) bool
	// Telemetry is where the policy reports; nil means telemetry.Default().
	Telemetry *telemetry.Telemetry
}

func accepted(err error) bool { return err == nil }

// New returns a Throttle configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*Throttle, error) {
	switch {
	case cfg.Window < 0 || cfg.Window > 0 && cfg.Window < buckets:
		return nil, fmt.Errorf("palisade/throttle: Config.Window must be >= %dns (0 means %v), got %v", buckets, DefaultWindow, cfg.Window)
	case math.IsNaN(cfg.K) || math.IsInf(cfg.K, 0) || cfg.K != 0 && cfg.K < 1:
		return nil, fmt.Errorf("palisade/throttle: Config.K must be >= 1 and finite (0 means %v), got %v", DefaultK, cfg.K)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.K == 0 {
		cfg.K = DefaultK
	}
	if cfg.IsAccepted == nil {
		cfg.IsAccepted = accepted
	}
	t := &Throttle{
		name:       cfg.Name,
		k:          cfg.K,
		bucketLen:  int64(cfg.Window) / buckets,
		isAccepted: cfg.IsAccepted,
		epoch:      time.Now(),
		err:        &Error{Policy: cfg.Name},
	}
	t.rejected = report.NewThrottle(cfg.Telemetry, cfg.Name, errorType, t, (*Throttle).RejectRatio)
	inventory.Add(t, "throttle", func(t *Throttle) inventory.Facts {
		return inventory.Facts{"k": t.k, "window": time.Duration(t.bucketLen * buckets), "reject_ratio": t.RejectRatio()}
	})
	return t, nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *Throttle {
	t, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return t
}
