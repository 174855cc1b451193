package retry

import (
	"fmt"
	"time"

	"github.com/palisade-go/palisade/internal/inventory"

	"github.com/cenkalti/backoff/v4"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/telemetry"
)

// Defaults of [Config].
const (
	// DefaultName names a retry whose Config.Name is empty.
	DefaultName = "retry"

	// DefaultMaxAttempts is the number of attempts, the first included, when
	// Config.MaxAttempts is 0.
	DefaultMaxAttempts = 3

	// DefaultMaxRetryAfter is the longest hint a retry waits for when
	// Config.MaxRetryAfter is 0.
	DefaultMaxRetryAfter = time.Second

	// Unlimited, as Config.MaxAttempts, lets a call be attempted until it
	// succeeds, its error is not retried, its backoff stops, its
	// MaxDuration passes, its budget runs out or its context ends.
	Unlimited = -1
)

// Parameters of [DefaultBackOff].
const (
	DefaultInitialInterval     = 100 * time.Millisecond
	DefaultMultiplier          = 2.0
	DefaultRandomizationFactor = 0.5
	DefaultMaxInterval         = 10 * time.Second
)

// Config configures a [Retry]. Its zero value is a retry of 3 attempts with
// the [DefaultBackOff] delays.
type Config struct {
	// Name names the policy in telemetry and errors; default [DefaultName].
	Name string

	// MaxAttempts is how many attempts a call may make in all, the first
	// included: 1 never retries, [Unlimited] (-1) sets no limit. Zero means
	// [DefaultMaxAttempts] (3). Any other negative value is an error.
	MaxAttempts int

	// BackOff returns the delays of one call. It is called once per call
	// that needs a retry (never for a call whose first attempt succeeds),
	// and the BackOff it returns is Reset before its first NextBackOff, so
	// it may return a fresh value or a reused one that is not shared between
	// concurrent calls. A NextBackOff of backoff.Stop ends the call as
	// exhausted. Nil means [DefaultBackOff].
	//
	// Prefer MaxDuration to a backoff's own elapsed-time limit (such as
	// backoff.ExponentialBackOff.MaxElapsedTime): MaxDuration also accounts
	// for Retry-After hints and ends a call before a wait it cannot finish.
	BackOff func() backoff.BackOff

	// MaxDuration, when > 0, bounds the time from the start of a call's first
	// attempt to the start of its last: a retry whose delay would end later
	// than MaxDuration after the first attempt started is not scheduled, and
	// the call ends at once as exhausted. Zero means no bound. The caller's
	// deadline bounds it the same way: no wait starts that would end at or
	// after ctx's deadline.
	MaxDuration time.Duration

	// MaxRetryAfter is the longest hint (policy.RetryAfter of the failed
	// attempt's error: an open breaker's remaining break, an HTTP
	// Retry-After) that a retry waits for. A failed attempt whose hint is
	// longer ends the call at once with its error unchanged, so that a retry
	// around an open breaker returns breaker.ErrOpen at once rather than
	// sleeping through the break. Zero means [DefaultMaxRetryAfter] (1s);
	// negative is an error. Raise it to honour servers that ask for longer
	// waits; a caller's deadline and MaxDuration still apply.
	MaxRetryAfter time.Duration

	// ShouldRetry reports whether a failed attempt's error may be retried;
	// when it returns false the error comes back unchanged. Nil retries
	// every error. Whatever it says, an error wrapping a
	// *backoff.PermanentError (made by backoff.Permanent) is never retried
	// and neither is any error returned once the caller's context has ended.
	ShouldRetry func(err error) bool

	// OnRetry, if not nil, is called before each retry's delay with the
	// number of the attempt about to run (2, 3, …), the error of the attempt
	// that failed and the delay about to be waited. It runs on the caller's
	// goroutine.
	OnRetry func(attempt int, err error, delay time.Duration)

	// Budget, if not nil, limits retries across every call of every policy
	// sharing it; see [budget.Budget].
	Budget *budget.Budget

	// Telemetry is where the policy reports; nil means telemetry.Default().
	Telemetry *telemetry.Telemetry
}

// New returns a Retry configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*Retry, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	return inventory.Track(&Retry{
		name:        cfg.Name,
		maxAttempts: cfg.MaxAttempts,
		backOff:     cfg.BackOff,
		maxDuration: cfg.MaxDuration,
		maxHint:     cfg.MaxRetryAfter,
		shouldRetry: cfg.ShouldRetry,
		onRetry:     cfg.OnRetry,
		budget:      cfg.Budget,
		report:      report.NewRetry(cfg.Telemetry, cfg.Name, budgetExhaustedType),
	}, "retry", func(r *Retry) inventory.Facts {
		return inventory.Facts{"max_attempts": r.maxAttempts, "max_duration": r.maxDuration}
	}), nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *Retry {
	r, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return r
}

// DefaultBackOff returns a new exponential backoff with the defaults of
// [Config.BackOff]: a first delay of 100ms ([DefaultInitialInterval]),
// multiplied by 2 ([DefaultMultiplier]) for each retry up to 10s
// ([DefaultMaxInterval]), each delay randomized by ±50%
// ([DefaultRandomizationFactor]). It never returns backoff.Stop: the number
// of attempts and Config.MaxDuration bound the retries.
//
// It may be wrapped, as in backoff.WithMaxRetries(retry.DefaultBackOff(), 5).
func DefaultBackOff() backoff.BackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     DefaultInitialInterval,
		RandomizationFactor: DefaultRandomizationFactor,
		Multiplier:          DefaultMultiplier,
		MaxInterval:         DefaultMaxInterval,
		MaxElapsedTime:      0, // Config.MaxDuration governs
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	return b
}

// validate checks cfg and returns it with its defaults filled in.
func (cfg Config) validate() (Config, error) {
	switch {
	case cfg.MaxAttempts == 0:
		cfg.MaxAttempts = DefaultMaxAttempts
	case cfg.MaxAttempts < Unlimited:
		return cfg, fmt.Errorf("palisade/retry: Config.MaxAttempts must be >= 1, or -1 for unlimited (0 means %d), got %d", DefaultMaxAttempts, cfg.MaxAttempts)
	}
	if cfg.MaxDuration < 0 {
		return cfg, fmt.Errorf("palisade/retry: Config.MaxDuration must be >= 0 (0 means no limit), got %v", cfg.MaxDuration)
	}
	switch {
	case cfg.MaxRetryAfter == 0:
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	case cfg.MaxRetryAfter < 0:
		return cfg, fmt.Errorf("palisade/retry: Config.MaxRetryAfter must be >= 0 (0 means %v), got %v", DefaultMaxRetryAfter, cfg.MaxRetryAfter)
	}
	if cfg.BackOff == nil {
		cfg.BackOff = DefaultBackOff
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	return cfg, nil
}
