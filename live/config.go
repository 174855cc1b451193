package live

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Defaults of a zero Config.
const (
	// DefaultInterval is how often the view samples the policies and pushes
	// an update to its viewers.
	DefaultInterval = 250 * time.Millisecond
	// MinInterval is the shortest Interval allowed: faster is no more
	// readable and costs the policies' locks more often.
	MinInterval = 50 * time.Millisecond
	// DefaultHistory is how far back the sparklines go.
	DefaultHistory = 5 * time.Minute
	// MaxHistory is the longest History allowed.
	MaxHistory = time.Hour
	// DefaultMaxViewers is how many pages may watch at once; more are
	// refused with 503 Service Unavailable.
	DefaultMaxViewers = 100
	// DefaultMaxPolicies is how many policies the view shows, the first
	// registered first.
	DefaultMaxPolicies = 500
)

// historyStep is the time between two sparkline points.
const historyStep = time.Second

// Config configures a [Handler]. The zero value is a read-only view with
// the defaults.
type Config struct {
	// Authorize, if set, says whether a request may act on the policies:
	// isolate or reset a breaker. The page shows the buttons only to a
	// viewer it approves, and every action must carry the CSRF token of
	// that page. nil (the default) makes the view read-only: every action
	// is refused with 403 Forbidden. It is called for the page and for
	// each action; it must not consume the request's body.
	Authorize func(r *http.Request) bool

	// Logger records every action taken, and every action refused; nil
	// means slog.Default().
	Logger *slog.Logger

	// Interval is how often the policies are sampled and an update is
	// pushed, while someone watches; 0 means [DefaultInterval]. Must be 0
	// or at least [MinInterval].
	Interval time.Duration

	// History is how far back each policy's sparkline goes, one point a
	// second; 0 means [DefaultHistory]. Must be 0 or between 1s and
	// [MaxHistory].
	History time.Duration

	// MaxViewers bounds the event streams open at once; 0 means
	// [DefaultMaxViewers]. Must not be negative.
	MaxViewers int

	// MaxPolicies bounds the policies shown, and read at each sample: the
	// first registered are shown, and the page says how many are not (a
	// process with a registry of many per-key pipelines has more than a
	// page can show); 0 means [DefaultMaxPolicies]. Must not be negative.
	MaxPolicies int

	// MetricReader, if set, gives the pipelines' recent latency (p50, p99)
	// and outcome rates, read from the palisade.pipeline.duration histogram
	// they already record: a reader registered on the meter provider the
	// pipelines report to (sdkmetric.WithReader), best a ManualReader of
	// the view's own. The view collects from it once a second while
	// someone watches. A reader with delta temporality must be the view's
	// alone, or the view and the other user would each see part of the
	// calls. nil: pipelines are shown without latency.
	MetricReader sdkmetric.Reader
}

// settings is a validated Config with its defaults applied.
type settings struct {
	authorize     func(*http.Request) bool
	logger        *slog.Logger
	interval      time.Duration
	historyPoints int
	maxViewers    int
	maxPolicies   int
	metricReader  sdkmetric.Reader
}

func (cfg Config) settings() (settings, error) {
	switch {
	case cfg.Interval != 0 && cfg.Interval < MinInterval:
		return settings{}, fmt.Errorf("palisade/live: Config.Interval must be 0 (meaning %v) or >= %v, got %v", DefaultInterval, MinInterval, cfg.Interval)
	case cfg.History != 0 && (cfg.History < historyStep || cfg.History > MaxHistory):
		return settings{}, fmt.Errorf("palisade/live: Config.History must be 0 (meaning %v) or between %v and %v, got %v", DefaultHistory, historyStep, MaxHistory, cfg.History)
	case cfg.MaxViewers < 0:
		return settings{}, fmt.Errorf("palisade/live: Config.MaxViewers must be >= 0 (0 means %d), got %d", DefaultMaxViewers, cfg.MaxViewers)
	case cfg.MaxPolicies < 0:
		return settings{}, fmt.Errorf("palisade/live: Config.MaxPolicies must be >= 0 (0 means %d), got %d", DefaultMaxPolicies, cfg.MaxPolicies)
	}
	s := settings{
		authorize:    cfg.Authorize,
		logger:       cfg.Logger,
		interval:     cmp.Or(cfg.Interval, DefaultInterval),
		maxViewers:   cmp.Or(cfg.MaxViewers, DefaultMaxViewers),
		maxPolicies:  cmp.Or(cfg.MaxPolicies, DefaultMaxPolicies),
		metricReader: cfg.MetricReader,
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.historyPoints = int(cmp.Or(cfg.History, DefaultHistory) / historyStep)
	return s, nil
}

// New returns a Handler configured by cfg, or an error naming the first
// invalid field.
func New(cfg Config) (*Handler, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	return newHandler(s)
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must(cfg Config) *Handler {
	h, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return h
}
