// Package registry keeps a pipeline per key — per host, tenant or
// endpoint — built on first use from a template, so that one failing
// dependency opens its own breaker and fills its own bulkhead, not
// everyone's:
//
//	hosts := registry.Must(registry.Config[string]{
//		New: func(host string) (*policy.Pipeline, error) {
//			b, err := breaker.New(breaker.Config{Name: "per-host"})
//			if err != nil {
//				return nil, err
//			}
//			return policy.NewPipeline("per-host", b), nil
//		},
//		MaxEntries: 1000,
//		IdleTTL:    10 * time.Minute,
//	})
//	p, err := hosts.Get(req.URL.Host)
//
// # Building once
//
// The first Get of a key calls Config.New; Gets of the same key arriving
// while it runs wait for it and get the same pipeline, so that a burst of
// first calls builds one breaker, not one per caller (whose telemetry would
// be registered as many times). A key whose build fails is not kept.
//
// # Bounds and eviction
//
// Keys often come from outside — a host in a URL, a tenant in a header —
// and a registry that built whatever it was asked for would grow without
// bound (the complaint of resilience4j users whose registries had no
// limit). A Registry holds at most Config.MaxEntries entries (10,000 by
// default). A new key finding it full evicts the least recently used entry
// that is not busy, chosen by the CLOCK algorithm: each Get marks its entry
// used; the eviction hand goes round the entries, clearing marks, and
// evicts the first unmarked entry whose pipeline is not busy. Config.IdleTTL
// also evicts entries no one asked for during that time.
//
// An entry is busy while evicting it would drop protection in force: by
// default ([DefaultBusy]) a breaker that is not closed, or a bulkhead with
// calls running. An open breaker is the registry's memory that its
// dependency is down; a fresh one would let the next calls through. Such an
// entry stays until its breaker closes (or Remove takes it out), and if every
// entry is busy, a new key gets [ErrFull], matching policy.ErrRejected.
//
// Eviction is lazy: there is no goroutine of the registry's own. A Get
// of a new key makes room itself; idle entries are looked for about every
// IdleTTL/4 by the next Get (or Len or All) after a timer, which holds the
// registry weakly, has marked a sweep due; that call pays for the sweep,
// which looks at every entry. Time is read only on these paths, never on
// the Get of an existing key, which takes no lock and allocates nothing:
// time in tests follows testing/synctest.
//
// # Telemetry and cardinality
//
// Entries report under the names Config.New gives their pipeline and
// policies. The same names for every key (those of a template) keep one
// series per policy whatever the number of keys: the series of asynchronous
// instruments, such as palisade.breaker.status, then add up the entries
// (the number of breakers in each state), while counters count the events
// of all entries together. Names built from keys ("breaker-" + host) make a
// series per key: they are bounded only by MaxEntries, so do so only for
// keys from a set you trust, with a MaxEntries you would accept as a number
// of series.
//
// An evicted or removed entry's pipeline is no longer observed once it is
// unreachable: palisade's policies hold their asynchronous instruments'
// registrations weakly and release them when they are collected. Until the
// next garbage collection, it may still be counted in the series it shared
// with the other entries. A caller still running a call through it keeps
// it alive, and working, until it drops it.
//
// The registry reports on itself too (see Config.Telemetry): its number of
// entries, its evictions by reason and the new keys it refused.
package registry
