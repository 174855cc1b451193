package budget

import (
	"fmt"
	"math"
	"time"

	"github.com/palisade-go/palisade/internal/inventory"
)

// DefaultWindow is the window of a Budget whose Config.Window is 0.
const DefaultWindow = 10 * time.Second

// numBuckets is the number of buckets a Budget's window is divided into.
const numBuckets = 10

// Config configures a [Budget]. The zero value allows no extra attempt.
type Config struct {
	// Ratio is the extra attempts allowed per call in the window, on top of
	// MinExtra: 0.2 lets retries and hedges add 20% to the load. Must be a
	// finite number >= 0; zero allows none beyond MinExtra.
	Ratio float64

	// MinExtra is the extra attempts allowed in the window whatever the
	// number of calls, so that a service with little traffic can still
	// retry. Must be >= 0; zero allows none beyond Ratio × calls.
	MinExtra int

	// Window is how far back calls and extra attempts are counted; zero
	// means [DefaultWindow] (10s). Must be >= 0.
	Window time.Duration
}

// New returns a Budget configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*Budget, error) {
	if !(cfg.Ratio >= 0) || math.IsInf(cfg.Ratio, 0) {
		return nil, fmt.Errorf("palisade/budget: Config.Ratio must be a finite number >= 0, got %v", cfg.Ratio)
	}
	if cfg.MinExtra < 0 {
		return nil, fmt.Errorf("palisade/budget: Config.MinExtra must be >= 0, got %d", cfg.MinExtra)
	}
	if cfg.Window < 0 {
		return nil, fmt.Errorf("palisade/budget: Config.Window must be >= 0, got %v", cfg.Window)
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	return inventory.Track(&Budget{
		ratio:    cfg.Ratio,
		minExtra: cfg.MinExtra,
		window:   cfg.Window,
		width:    max(cfg.Window/numBuckets, 1),
		origin:   time.Now(),
	}, "budget", func(b *Budget) inventory.Facts { return inventory.Facts{"ratio": b.ratio, "min_extra": b.minExtra} }), nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *Budget {
	b, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return b
}
