package breaker

import (
	"fmt"
	"math"
	"time"

	"github.com/palisade-go/palisade/internal/inventory"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

// Defaults of the Config fields left zero.
const (
	// DefaultName names a breaker whose Config.Name is empty. Errors and
	// telemetry tell breakers apart by name only: give each breaker of a
	// program its own.
	DefaultName              = "breaker"
	DefaultFailureRatio      = 0.5
	DefaultMinimumThroughput = 10
	DefaultWindowSize        = 100
	DefaultSlowCallRatio     = 1.0
	DefaultBreakDuration     = 30 * time.Second
	DefaultSuccessThreshold  = 3
	// DefaultMaxBreakFromRetryAfter caps, with BreakFromRetryAfter, a break
	// taken from a failure's hint when MaxBreakFromRetryAfter is zero.
	DefaultMaxBreakFromRetryAfter = 5 * time.Minute
)

// Limits of the Config fields.
const (
	// MaxWindowSize is the largest WindowSize: a count window holds one
	// 4-byte slot per outcome, 12 bytes when SlowCallDuration is set (the
	// call's duration too), allocated once when the breaker is built and
	// reused by every closed period after (a time window takes a few
	// hundred bytes, whatever its traffic).
	MaxWindowSize = 1 << 24
	// Buckets is the number of buckets of a time window: an outcome stays in
	// the window for between (Buckets-1)/Buckets and all of WindowDuration.
	Buckets = 10
)

// Config configures a [Breaker]. The zero value is valid: a count window of
// the last 100 outcomes that opens at 50% failures once it holds 10, for 30s
// at a time, and closes again after 3 successful trial calls.
type Config struct {
	// Name names the breaker in telemetry and errors (Error.Policy);
	// default [DefaultName]. Every breaker of a program should have its own
	// name, such as the dependency it guards ("payments-api"): with the
	// default, an error or a metric cannot tell which breaker rejected.
	Name string

	// FailureRatio opens the breaker when failures/calls in the window
	// reach it (inclusive); default 0.5. Must be in (0, 1].
	FailureRatio float64
	// MinimumThroughput is how many calls the window must hold before
	// FailureRatio or SlowCallRatio may open the breaker; default 10 (or
	// WindowSize, if smaller and MinimumThroughput is left zero). Must not
	// be negative, nor exceed WindowSize, or, with a time window,
	// [MaxWindowSize].
	MinimumThroughput int
	// WindowSize makes the window count-based: it holds the last WindowSize
	// outcomes. Default 100 when WindowDuration is zero; at most
	// [MaxWindowSize]. Must be zero when WindowDuration is set.
	WindowSize int
	// WindowDuration, if set, makes the window time-based instead: it holds
	// the outcomes of the last WindowDuration, in [Buckets] buckets of
	// WindowDuration/Buckets each. Must not be negative; at least 10ns.
	WindowDuration time.Duration

	// SlowCallDuration, if set, makes the breaker time its calls: a call
	// taking longer than this is slow, whether it failed or not. Default 0:
	// calls are not timed. Must not be negative.
	SlowCallDuration time.Duration
	// SlowCallRatio opens the breaker when slow calls/calls in the window
	// reach it (inclusive); default 1.0. Must be in (0, 1], and may be set
	// only with SlowCallDuration.
	SlowCallRatio float64

	// ConsecutiveFailures, if set, also opens the breaker after this many
	// failures in a row, whatever the window holds. Default 0: off. Must not
	// be negative.
	ConsecutiveFailures int

	// BreakDuration is how long the breaker stays open; default 30s. Must
	// not be negative.
	BreakDuration time.Duration
	// BreakDurationFunc, if set, gives the break instead of BreakDuration:
	// it is called with n for the n-th consecutive opening (1, 2, …; closing
	// the breaker starts again from 1) and may return a growing backoff. A
	// negative result counts as zero. It is called with the breaker's lock
	// held: it must be quick and must not call the breaker. Should it
	// panic, the breaker does not open (nor count the opening) and the
	// panic goes on to the call whose failure was to open it.
	BreakDurationFunc func(opens int) time.Duration
	// BreakFromRetryAfter, if set, lets the dependency say how long to
	// break: when the error of the failure that opens the breaker carries
	// a hint (policy.RetryAfter: an HTTP 429 or 503 with Retry-After,
	// through palisadehttp), the break lasts as long as the hint, at most
	// MaxBreakFromRetryAfter, instead of BreakDuration or
	// BreakDurationFunc's (which still counts the opening). An opening
	// failure without a hint breaks as usual. Default false.
	BreakFromRetryAfter bool
	// MaxBreakFromRetryAfter caps a break taken from a hint, so that a
	// hostile or mistaken Retry-After cannot stop the calls for hours;
	// default [DefaultMaxBreakFromRetryAfter] (5m). Must not be negative,
	// and may be set only with BreakFromRetryAfter.
	MaxBreakFromRetryAfter time.Duration

	// SuccessThreshold is how many successful trial calls in half-open close
	// the breaker; default 3. Must not be negative.
	SuccessThreshold int
	// HalfOpenCalls is how many trial calls may be in flight at once;
	// default SuccessThreshold. Trial calls admitted in an earlier
	// half-open period (or before Reset) and still running count too, until
	// they end: a half-open breaker admits a trial call only while fewer
	// than HalfOpenCalls are running. A trial call that ends late frees its
	// place but changes no state. Must not be negative.
	HalfOpenCalls int

	// IsIgnored, if set, tells, for each non-nil error of the function,
	// whether the outcome says nothing about the dependency (a validation
	// error, a not-found, a conflict of the caller's making) and must count
	// neither as a success nor as a failure. Default nil: no error but the
	// built-in ones below is ignored. It is asked before IsFailure, which is
	// not asked about an ignored error. It runs on the calling goroutine,
	// without any lock held; should it panic, the call counts as a failure
	// and the panic goes on.
	//
	// Two outcomes are always ignored, without asking: an error matching
	// policy.ErrRejected (a policy inside the breaker, such as a full
	// bulkhead, refused the call) and context.Canceled when the caller's own
	// context was cancelled. An ignored outcome takes no place in the
	// window, does not break a run of consecutive failures, and a half-open
	// trial ending so gives its permit back without counting as a trial.
	// It is counted in Metrics.TotalCalls. (gobreaker calls this
	// IsExcluded, resilience4j ignoreExceptions.)
	IsIgnored func(error) bool
	// IsFailure tells, for each non-nil error of the function that is not
	// ignored (see IsIgnored), whether it counts as a failure; anything
	// else, and every nil error, counts as a success. Default: every error
	// but context.Canceled. It runs on the calling goroutine, without any
	// lock held; should it panic, the call counts as a failure and the
	// panic goes on.
	//
	// To keep errors that are no sign of the dependency's health from
	// counting at all, use IsIgnored: an error IsFailure turns down is a
	// success, which dilutes the failure ratio and, in half-open, counts
	// towards closing the breaker.
	IsFailure func(error) bool
	// OnStateChange, if set, is called after each transition, outside any
	// lock, one call at a time and in the order of the transitions. It runs
	// on the goroutine that observed the transition, unless another
	// goroutine is already delivering transitions, in which case that one
	// delivers it too. It may call the breaker.
	OnStateChange func(from, to State)
	// TrialGate, if set, is asked on each admission of a half-open breaker
	// (never on the closed path), without any lock held, before the
	// breaker checks HalfOpenCalls: false rejects the call as when every
	// trial call is taken. It lets trial calls be limited beyond this
	// breaker, e.g. across the replicas of a service (see [Breaker.OpenUntil]).
	// It must be quick and must not block; should it panic, the call is not
	// admitted and the panic goes on. Default nil: always true.
	TrialGate func() bool

	// Telemetry is where the breaker reports; nil means telemetry.Default().
	Telemetry *telemetry.Telemetry
}

// New returns a Breaker configured by cfg, or an error naming the first
// invalid field. The breaker starts closed.
func New(cfg Config) (*Breaker, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	b := &Breaker{
		settings:    s,
		epoch:       time.Now(),
		timed:       s.slowCall > 0,
		errOpen:     &Error{Policy: s.name, State: Open},
		errHalfOpen: &Error{Policy: s.name, State: HalfOpen},
		errIsolated: &Error{Policy: s.name, State: Isolated},
	}
	if s.windowSize > 0 {
		b.ring = newRing(s.windowSize)
		b.countFast = !b.timed
	} else {
		b.timeFast = !b.timed
	}
	ep := &episode{state: Closed}
	b.newWindow(ep, nil)
	b.ep.Store(ep)
	b.report = report.NewBreaker(cfg.Telemetry, s.name, stateNames, reportedTransitions, errorType, b, (*Breaker).observe)
	inventory.Add(b, "breaker", func(b *Breaker) inventory.Facts {
		return inventory.Facts{"window_size": b.windowSize, "window_duration": time.Duration(b.bucketWidth * Buckets), "failure_threshold": b.failureRatio, "slow_call_duration": time.Duration(b.slowCall), "slow_threshold": b.slowCallRatio, "break_until": b.at(b.ep.Load().until)}
	})
	return b, nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *Breaker {
	b, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

// settings is a validated Config with its defaults applied.
type settings struct {
	name              string
	failureRatio      float64
	minimumThroughput int64
	windowSize        int
	bucketWidth       int64 // ns; 0 for a count window
	slowCall          int64 // ns; 0 when calls are not timed
	slowCallRatio     float64
	consecutive       int64
	breakDuration     time.Duration
	breakDurationFunc func(int) time.Duration
	breakFromHint     bool          // BreakFromRetryAfter
	maxHintBreak      time.Duration // MaxBreakFromRetryAfter, defaulted
	successThreshold  int
	halfOpenCalls     int
	isIgnored         func(error) bool // nil: none but the built-in ones
	isFailure         func(error) bool
	userClassifies    bool // IsIgnored, IsFailure or BreakFromRetryAfter: user code classifies errors
	onStateChange     func(from, to State)
	trialGate         func() bool // nil: always true
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("palisade/breaker: "+format, args...)
}

func validRatio(r float64) bool { return r > 0 && r <= 1 && !math.IsNaN(r) }

// settings validates cfg, naming the first invalid field, and applies the
// defaults.
func (cfg *Config) settings() (settings, error) {
	switch {
	case cfg.FailureRatio != 0 && !validRatio(cfg.FailureRatio):
		return settings{}, errorf("Config.FailureRatio must be in (0, 1] (0 means %v), got %v", DefaultFailureRatio, cfg.FailureRatio)
	case cfg.MinimumThroughput < 0:
		return settings{}, errorf("Config.MinimumThroughput must be >= 0 (0 means %d), got %d", DefaultMinimumThroughput, cfg.MinimumThroughput)
	case cfg.WindowSize < 0:
		return settings{}, errorf("Config.WindowSize must be >= 0 (0 means %d), got %d", DefaultWindowSize, cfg.WindowSize)
	case cfg.WindowSize > MaxWindowSize:
		return settings{}, errorf("Config.WindowSize must be <= %d, got %d", MaxWindowSize, cfg.WindowSize)
	case cfg.WindowDuration < 0:
		return settings{}, errorf("Config.WindowDuration must be >= 0 (0 means a count window), got %v", cfg.WindowDuration)
	case cfg.WindowDuration > 0 && cfg.WindowDuration < Buckets:
		return settings{}, errorf("Config.WindowDuration must be >= %v (Buckets ns), got %v", time.Duration(Buckets), cfg.WindowDuration)
	case cfg.WindowDuration > 0 && cfg.WindowSize != 0:
		return settings{}, errorf("Config.WindowSize must be 0 when Config.WindowDuration is set (a window is either count- or time-based), got %d", cfg.WindowSize)
	case cfg.SlowCallDuration < 0:
		return settings{}, errorf("Config.SlowCallDuration must be >= 0 (0 means off), got %v", cfg.SlowCallDuration)
	case cfg.SlowCallRatio != 0 && !validRatio(cfg.SlowCallRatio):
		return settings{}, errorf("Config.SlowCallRatio must be in (0, 1] (0 means %v), got %v", DefaultSlowCallRatio, cfg.SlowCallRatio)
	case cfg.SlowCallRatio != 0 && cfg.SlowCallDuration == 0:
		return settings{}, errorf("Config.SlowCallRatio must be 0 while Config.SlowCallDuration is 0 (calls are not timed), got %v", cfg.SlowCallRatio)
	case cfg.ConsecutiveFailures < 0:
		return settings{}, errorf("Config.ConsecutiveFailures must be >= 0 (0 means off), got %d", cfg.ConsecutiveFailures)
	case cfg.BreakDuration < 0:
		return settings{}, errorf("Config.BreakDuration must be >= 0 (0 means %v), got %v", DefaultBreakDuration, cfg.BreakDuration)
	case cfg.MaxBreakFromRetryAfter < 0:
		return settings{}, errorf("Config.MaxBreakFromRetryAfter must be >= 0 (0 means %v), got %v", DefaultMaxBreakFromRetryAfter, cfg.MaxBreakFromRetryAfter)
	case cfg.MaxBreakFromRetryAfter != 0 && !cfg.BreakFromRetryAfter:
		return settings{}, errorf("Config.MaxBreakFromRetryAfter must be 0 while Config.BreakFromRetryAfter is false, got %v", cfg.MaxBreakFromRetryAfter)
	case cfg.SuccessThreshold < 0:
		return settings{}, errorf("Config.SuccessThreshold must be >= 0 (0 means %d), got %d", DefaultSuccessThreshold, cfg.SuccessThreshold)
	case cfg.HalfOpenCalls < 0:
		return settings{}, errorf("Config.HalfOpenCalls must be >= 0 (0 means SuccessThreshold), got %d", cfg.HalfOpenCalls)
	}
	s := settings{
		name:              cfg.Name,
		failureRatio:      cfg.FailureRatio,
		minimumThroughput: int64(cfg.MinimumThroughput),
		windowSize:        cfg.WindowSize,
		slowCall:          int64(cfg.SlowCallDuration),
		slowCallRatio:     cfg.SlowCallRatio,
		consecutive:       int64(cfg.ConsecutiveFailures),
		breakDuration:     cfg.BreakDuration,
		breakDurationFunc: cfg.BreakDurationFunc,
		breakFromHint:     cfg.BreakFromRetryAfter,
		maxHintBreak:      cfg.MaxBreakFromRetryAfter,
		successThreshold:  cfg.SuccessThreshold,
		halfOpenCalls:     cfg.HalfOpenCalls,
		isIgnored:         cfg.IsIgnored,
		isFailure:         cfg.IsFailure,
		onStateChange:     cfg.OnStateChange,
		trialGate:         cfg.TrialGate,
	}
	if s.name == "" {
		s.name = DefaultName
	}
	if s.failureRatio == 0 {
		s.failureRatio = DefaultFailureRatio
	}
	if cfg.WindowDuration > 0 {
		s.bucketWidth = int64(cfg.WindowDuration / Buckets)
	} else if s.windowSize == 0 {
		s.windowSize = DefaultWindowSize
	}
	if s.minimumThroughput == 0 {
		s.minimumThroughput = DefaultMinimumThroughput
		if s.windowSize > 0 && s.windowSize < DefaultMinimumThroughput {
			s.minimumThroughput = int64(s.windowSize)
		}
	} else if s.windowSize > 0 && s.minimumThroughput > int64(s.windowSize) {
		return settings{}, errorf("Config.MinimumThroughput must be <= WindowSize (%d), or the window could never hold enough calls, got %d", s.windowSize, cfg.MinimumThroughput)
	} else if s.windowSize == 0 && s.minimumThroughput > MaxWindowSize {
		return settings{}, errorf("Config.MinimumThroughput must be <= %d (MaxWindowSize) with a time window, or the breaker could in effect never open on a ratio, got %d", MaxWindowSize, cfg.MinimumThroughput)
	}
	if s.slowCallRatio == 0 {
		s.slowCallRatio = DefaultSlowCallRatio
	}
	if s.breakDuration == 0 {
		s.breakDuration = DefaultBreakDuration
	}
	if s.maxHintBreak == 0 {
		s.maxHintBreak = DefaultMaxBreakFromRetryAfter
	}
	if s.successThreshold == 0 {
		s.successThreshold = DefaultSuccessThreshold
	}
	if s.halfOpenCalls == 0 {
		s.halfOpenCalls = s.successThreshold
	}
	s.userClassifies = cfg.IsIgnored != nil || cfg.IsFailure != nil || cfg.BreakFromRetryAfter
	if s.isFailure == nil {
		s.isFailure = isFailure
	}
	return s, nil
}
