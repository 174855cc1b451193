package registry

import (
	"fmt"
	"time"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/telemetry"
)

// Defaults and limits of [Config].
const (
	// DefaultName is the name of a registry whose Config.Name is empty.
	DefaultName = "registry"

	// DefaultMaxEntries is the MaxEntries of a Config that leaves it zero:
	// enough for the hosts or tenants of most services, and a bound on
	// what a flood of distinct keys can make the registry build.
	DefaultMaxEntries = 10_000

	// Unbounded, as Config.MaxEntries, sets no limit on the number of
	// entries. Use it only when the keys come from a bounded set (a
	// configuration file's endpoints), never from requests.
	Unbounded = -1
)

// Config configures a [Registry] of pipelines keyed by K.
type Config[K comparable] struct {
	// Name names the registry in its telemetry; default [DefaultName].
	Name string

	// New builds the pipeline of a key, the first time the key is asked
	// for; required. It is called once per key and entry (again only for a
	// key whose entry was evicted or removed, or whose previous build
	// failed), never twice at once for the same key, and without any lock
	// of the registry held, so it may call the registry for other keys. It
	// should be quick: every Get of the key waits for it.
	//
	// The names New gives the pipeline and its policies are the names they
	// report under. Giving every entry the same names (those of a
	// template, the usual choice) keeps one metric series per policy
	// whatever the number of keys; naming them after the key (as in
	// "breaker-"+host) makes a series per key, which only a bounded set of
	// keys (MaxEntries) keeps bounded. See the package documentation.
	New func(key K) (*policy.Pipeline, error)

	// MaxEntries bounds the number of entries, builds in progress
	// included. When a new key finds the registry full, the least recently
	// used entry that is not busy (see Busy) is evicted to make room; if
	// every entry is busy, Get fails with [ErrFull]. Zero means
	// [DefaultMaxEntries]; [Unbounded] (-1) sets no bound. Any other
	// negative value is an error.
	MaxEntries int

	// IdleTTL, if set, evicts an entry that no Get has asked for during
	// IdleTTL, unless it is busy. Eviction is lazy: it is done by a Get or
	// another method of the registry, about every IdleTTL/4, so an entry is
	// evicted between IdleTTL and about 1.5 × IdleTTL after its last Get,
	// provided the registry is used at all. Zero: entries are evicted only
	// to make room. Must not be negative.
	IdleTTL time.Duration

	// Busy reports whether an entry's pipeline must not be evicted because
	// evicting it would lose protection that is in force. Nil means
	// [DefaultBusy]: a breaker that is not closed, a bulkhead with calls in
	// flight or queued. A Busy of your own may add to DefaultBusy; one
	// that ignores it lets the registry evict an open breaker, and with it
	// the fact that its dependency is down. It is called without any lock
	// of the registry held.
	//
	// A breaker whose break is over stays half-open, and its entry busy,
	// until a trial call closes it: keys no one asks for again after their
	// dependency failed (a crawler's dead hosts) keep their places until
	// Remove, and may fill the registry. A Busy that lets half-open entries
	// go trades their limit on trial calls for the room:
	//
	//	Busy: func(p *policy.Pipeline) bool {
	//		for _, pol := range p.Policies() {
	//			if b, ok := pol.(*breaker.Breaker); ok && b.State() == breaker.HalfOpen {
	//				return false
	//			}
	//		}
	//		return registry.DefaultBusy(p)
	//	},
	Busy func(*policy.Pipeline) bool

	// OnEvict, if set, is called with each entry evicted for being idle or
	// to make room (not for those taken out with Remove), after the
	// registry has let go of it and without any lock held. Callers that
	// obtained the pipeline before its eviction may still be using it: it
	// goes on working for them.
	OnEvict func(key K, p *policy.Pipeline)

	// Telemetry is where the registry reports on itself:
	// palisade.registry.entries, palisade.registry.evictions by
	// palisade.registry.eviction_reason (idle, capacity, removed), and the
	// new keys refused for want of room as palisade.rejected_calls of
	// palisade.policy.type registry, all under palisade.registry.name (or
	// palisade.policy.name for the refusals) and never the keys. Nil means
	// telemetry.Default(). The pipelines report where New makes them.
	Telemetry *telemetry.Telemetry
}

func (cfg *Config[K]) validate() error {
	switch {
	case cfg.New == nil:
		return fmt.Errorf("palisade/registry: Config.New must not be nil")
	case cfg.MaxEntries < Unbounded:
		return fmt.Errorf("palisade/registry: Config.MaxEntries must be >= 0 (0 means %d), or -1 for unbounded, got %d", DefaultMaxEntries, cfg.MaxEntries)
	case cfg.IdleTTL < 0:
		return fmt.Errorf("palisade/registry: Config.IdleTTL must be >= 0 (0 means no idle eviction), got %v", cfg.IdleTTL)
	}
	return nil
}

// New returns a Registry configured by cfg, or an error naming the first
// invalid field. It builds no pipeline: each is built by the first Get of
// its key.
func New[K comparable](cfg Config[K]) (*Registry[K], error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Registry[K]{
		newPipeline: cfg.New,
		max:         cfg.MaxEntries,
		idleTTL:     cfg.IdleTTL,
		busy:        cfg.Busy,
		onEvict:     cfg.OnEvict,
		table:       newTable[K](),
		pending:     make(map[K]*build),
	}
	switch r.max {
	case 0:
		r.max = DefaultMaxEntries
	case Unbounded:
		r.max = 0
	}
	if r.busy == nil {
		r.busy = DefaultBusy
	}
	name := cfg.Name
	if name == "" {
		name = DefaultName
	}
	r.report = report.NewRegistry(cfg.Telemetry, name, fullError{}.ErrorType(), r, (*Registry[K]).entryCount)
	return r, nil
}

// Must is like New but panics with New's error; for configurations written
// as literals.
func Must[K comparable](cfg Config[K]) *Registry[K] {
	r, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return r
}
