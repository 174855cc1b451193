package retry

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// DefaultBudgetWindow is the window of a [Budget] whose BudgetConfig.Window
// is 0.
const DefaultBudgetWindow = 10 * time.Second

// budgetBuckets is the number of buckets a Budget's window is divided into.
const budgetBuckets = 10

// BudgetConfig configures a [Budget].
type BudgetConfig struct {
	// Ratio is the retries allowed per call in the window, on top of
	// MinRetries: 0.2 lets retries add 20% to the load. Must be a finite
	// number >= 0; zero allows none beyond MinRetries.
	Ratio float64

	// MinRetries is the retries allowed in the window whatever the number of
	// calls, so that a service with little traffic can still retry. Must be
	// >= 0; zero allows none beyond Ratio × calls.
	MinRetries int

	// Window is how far back calls and retries are counted; zero means
	// [DefaultBudgetWindow] (10s). Must be >= 0.
	Window time.Duration
}

// Budget is a retry budget: it caps the retries of every policy sharing it
// to a fraction of their calls, so that retries cannot multiply the load of
// a struggling dependency, as gRPC's retry throttling and the retry budgets
// of Finagle and Envoy do.
//
// A retry is allowed while the retries in the window, this one included,
// stay within
//
//	MinRetries + Ratio × calls
//
// where calls counts the Execute calls of every [Retry] using the budget.
// The window slides in steps of a tenth of Window: it is kept as a fixed
// ring of ten buckets, so each call and each retry costs O(1) — one clock
// read and one short critical section — whatever the traffic.
//
// A Budget is safe for concurrent use, and is meant to be shared by many
// Retry policies, typically all those calling one dependency.
type Budget struct {
	ratio      float64
	minRetries int
	window     time.Duration
	width      time.Duration // of a bucket
	origin     time.Time

	mu      sync.Mutex
	head    int64 // tick (time since origin / width) of the newest bucket
	calls   int64 // in the window
	retries int64 // in the window
	buckets [budgetBuckets]budgetBucket
}

type budgetBucket struct {
	calls, retries int64
}

// NewBudget returns a Budget configured by cfg, or an error naming the
// first invalid field.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	if !(cfg.Ratio >= 0) || math.IsInf(cfg.Ratio, 0) {
		return nil, fmt.Errorf("palisade/retry: BudgetConfig.Ratio must be a finite number >= 0, got %v", cfg.Ratio)
	}
	if cfg.MinRetries < 0 {
		return nil, fmt.Errorf("palisade/retry: BudgetConfig.MinRetries must be >= 0, got %d", cfg.MinRetries)
	}
	if cfg.Window < 0 {
		return nil, fmt.Errorf("palisade/retry: BudgetConfig.Window must be >= 0, got %v", cfg.Window)
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultBudgetWindow
	}
	return &Budget{
		ratio:      cfg.Ratio,
		minRetries: cfg.MinRetries,
		window:     cfg.Window,
		width:      max(cfg.Window/budgetBuckets, 1),
		origin:     time.Now(),
	}, nil
}

// MustBudget is like NewBudget but panics with NewBudget's error; for
// configurations written as literals.
func MustBudget(cfg BudgetConfig) *Budget {
	b, err := NewBudget(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

// Window returns how far back the budget counts calls and retries.
func (b *Budget) Window() time.Duration { return b.window }

// call counts one call.
func (b *Budget) call() {
	now := time.Now()
	b.mu.Lock()
	b.advance(now).calls++
	b.calls++
	b.mu.Unlock()
}

// allowRetry counts one retry and reports true if the budget allows it,
// else reports false and counts nothing.
func (b *Budget) allowRetry() bool {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.advance(now)
	if float64(b.retries+1) > float64(b.minRetries)+b.ratio*float64(b.calls) {
		return false
	}
	bk.retries++
	b.retries++
	return true
}

// advance moves the window to now, dropping the buckets that left it, and
// returns the current bucket. b.mu must be held. A time before the newest
// bucket (clock readings that raced, or a clock from another
// testing/synctest bubble) counts in the newest bucket.
func (b *Budget) advance(now time.Time) *budgetBucket {
	tick := int64(now.Sub(b.origin) / b.width)
	if tick > b.head {
		if tick-b.head >= budgetBuckets {
			b.buckets = [budgetBuckets]budgetBucket{}
			b.calls, b.retries = 0, 0
		} else {
			for t := b.head + 1; t <= tick; t++ {
				old := &b.buckets[t%budgetBuckets]
				b.calls -= old.calls
				b.retries -= old.retries
				*old = budgetBucket{}
			}
		}
		b.head = tick
	}
	return &b.buckets[b.head%budgetBuckets]
}
