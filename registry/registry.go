package registry

import (
	"errors"
	"iter"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
)

// Registry holds a pipeline per key, built on first use by Config.New and
// evicted when idle or to make room. It is safe for concurrent use.
type Registry[K comparable] struct {
	newPipeline func(K) (*policy.Pipeline, error)
	max         int // 0: unbounded
	idleTTL     time.Duration
	busy        func(*policy.Pipeline) bool
	onEvict     func(K, *policy.Pipeline)

	table  *table[K] // the entries, read without lock
	due    atomic.Bool
	report *report.Registry

	mu sync.Mutex
	// Guarded by mu.
	entries []*entry[K] // in no particular order; the eviction clock's dial
	hand    int         // the eviction clock's hand, an index in entries
	pending map[K]*build
	armed   bool // a timer will set due
}

// entry is one key's pipeline.
type entry[K comparable] struct {
	key      K
	pipeline *policy.Pipeline
	// used is set by Get and cleared by the eviction clock and idle
	// sweeps: an entry found unused by two sweeps in a row was not asked
	// for in between.
	used atomic.Bool

	// Guarded by the registry's mu.
	index     int       // in entries; -1 once the entry is removed
	idleSince time.Time // the sweep that last found it used
}

// build is a pipeline being built, which other Gets of its key wait for.
type build struct {
	done chan struct{} // closed when p or err is set
	p    *policy.Pipeline
	err  error
}

// Get returns the pipeline of key, building it with Config.New if the
// registry has none. Concurrent first Gets of a key build it once: one of
// them calls New, the others wait for it and get the same pipeline (or
// error). A key whose build failed is not kept, so the next Get tries again.
//
// Get of a key that has a pipeline takes no lock, reads no clock and
// allocates nothing. For a new key it may evict an entry to make room; it
// fails with an error matching [ErrFull] (and policy.ErrRejected) if it
// cannot, and with a *[BuildError] if New fails.
func (r *Registry[K]) Get(key K) (*policy.Pipeline, error) {
	if e := r.table.load(key); e != nil {
		if !e.used.Load() { // a load first: writes would contend on hot keys
			e.used.Store(true)
		}
		if r.due.Load() {
			r.sweep()
		}
		return e.pipeline, nil
	}
	return r.create(key)
}

// create is Get for a key with no entry.
func (r *Registry[K]) create(key K) (*policy.Pipeline, error) {
	if r.due.Load() {
		r.sweep()
	}
	examined := 0
	for {
		r.mu.Lock()
		if e := r.table.load(key); e != nil { // built meanwhile
			r.mu.Unlock()
			e.used.Store(true)
			return e.pipeline, nil
		}
		if b := r.pending[key]; b != nil {
			r.mu.Unlock()
			<-b.done
			return b.p, b.err
		}
		n := len(r.entries)
		if r.max == 0 || n+len(r.pending) < r.max {
			break // with mu held
		}
		if examined >= n {
			r.mu.Unlock()
			r.report.Full()
			return nil, ErrFull
		}
		victims := r.candidates(min(evictBatch, n))
		r.mu.Unlock()
		examined += len(victims)
		if r.evictOne(victims) {
			examined = 0
		}
	}
	b := &build{done: make(chan struct{})}
	r.pending[key] = b
	r.mu.Unlock()
	return r.build(key, b)
}

// evictBatch is how many entries the eviction clock proposes at a time.
const evictBatch = 8

// build calls New for key and publishes its outcome to b's waiters.
func (r *Registry[K]) build(key K, b *build) (p *policy.Pipeline, err error) {
	returned := false
	defer func() {
		if !returned { // New panicked: the waiters get an error, the panic goes on
			r.finish(key, b, nil, &BuildError{Key: key, Err: errPanicked})
		}
	}()
	p, err = r.newPipeline(key)
	returned = true
	switch {
	case err != nil:
		p, err = nil, &BuildError{Key: key, Err: err}
	case p == nil:
		err = &BuildError{Key: key, Err: errNilPipeline}
	}
	r.finish(key, b, p, err)
	return p, err
}

var (
	errPanicked    = errors.New("Config.New panicked")
	errNilPipeline = errors.New("Config.New returned a nil pipeline and no error")
)

// finish ends the build b of key with p or err.
func (r *Registry[K]) finish(key K, b *build, p *policy.Pipeline, err error) {
	r.mu.Lock()
	delete(r.pending, key)
	if err == nil {
		e := &entry[K]{key: key, pipeline: p, index: len(r.entries)}
		e.used.Store(true)
		r.entries = append(r.entries, e)
		r.table.store(e)
		r.arm()
	}
	r.mu.Unlock()
	b.p, b.err = p, err
	close(b.done)
}

// candidates returns up to k entries to evict to make room, advancing the
// eviction clock: an entry used since the hand last passed it gets a
// second chance (its mark is cleared and it is passed over), unless a whole
// turn found none unused, in which case the entries are taken as they come.
// Called with mu held, with k <= len(entries).
func (r *Registry[K]) candidates(k int) []*entry[K] {
	n := len(r.entries)
	out := make([]*entry[K], 0, k)
	for i := 0; i < 2*n && len(out) < k; i++ {
		e := r.entries[r.hand]
		r.hand = (r.hand + 1) % n
		if e.used.Swap(false) && i < n {
			continue
		}
		out = append(out, e)
	}
	return out
}

// evictOne evicts the first of victims that is not busy, and reports
// whether room was made.
func (r *Registry[K]) evictOne(victims []*entry[K]) bool {
	for _, e := range victims {
		if r.busy(e.pipeline) {
			continue
		}
		r.mu.Lock()
		gone := e.index < 0 // removed meanwhile: room was made anyway
		if !gone {
			r.remove(e)
		}
		r.mu.Unlock()
		if !gone {
			r.report.EvictedForRoom()
			if r.onEvict != nil {
				r.onEvict(e.key, e.pipeline)
			}
		}
		return true
	}
	return false
}

// remove takes e out of the registry. Called with mu held.
func (r *Registry[K]) remove(e *entry[K]) {
	r.table.delete(e)
	last := len(r.entries) - 1
	moved := r.entries[last]
	r.entries[e.index] = moved
	moved.index = e.index
	r.entries[last] = nil
	r.entries = r.entries[:last]
	e.index = -1
	if r.hand >= len(r.entries) {
		r.hand = 0
	}
}

// arm starts the timer that makes the next idle sweep due, if idle entries
// are evicted, there are entries, and none is running. The timer holds the
// registry weakly: a registry dropped by its users is collected, timer or
// not. Called with mu held.
func (r *Registry[K]) arm() {
	if r.idleTTL <= 0 || r.armed || len(r.entries) == 0 {
		return
	}
	r.armed = true
	w := weak.Make(r)
	time.AfterFunc(max(r.idleTTL/4, time.Millisecond), func() {
		if r := w.Value(); r != nil {
			r.mu.Lock()
			r.armed = false
			r.mu.Unlock()
			r.due.Store(true)
		}
	})
}

// sweep evicts the entries idle for IdleTTL that are not busy.
func (r *Registry[K]) sweep() {
	if !r.due.CompareAndSwap(true, false) {
		return // another goroutine is sweeping
	}
	now := time.Now()
	var idle []*entry[K]
	r.mu.Lock()
	for _, e := range r.entries {
		switch {
		case e.used.Swap(false) || e.idleSince.IsZero():
			e.idleSince = now
		case now.Sub(e.idleSince) >= r.idleTTL:
			idle = append(idle, e)
		}
	}
	r.mu.Unlock()

	var evicted []*entry[K]
	for _, e := range idle {
		if r.busy(e.pipeline) {
			continue
		}
		r.mu.Lock()
		if e.index >= 0 && !e.used.Load() {
			r.remove(e)
			evicted = append(evicted, e)
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.arm()
	r.mu.Unlock()
	r.report.EvictedIdle(len(evicted))
	if r.onEvict != nil {
		for _, e := range evicted {
			r.onEvict(e.key, e.pipeline)
		}
	}
}

// Remove takes the entry of key out of the registry, busy or not, and
// reports whether there was one. The next Get of key builds a new
// pipeline. Callers holding the old one may go on using it; once none
// does, it is collected and its telemetry stops being reported. A build of
// key in progress is not affected.
func (r *Registry[K]) Remove(key K) bool {
	r.mu.Lock()
	e := r.table.load(key)
	if e != nil {
		r.remove(e)
	}
	r.mu.Unlock()
	if e != nil {
		r.report.Removed()
	}
	return e != nil
}

// Len returns the number of entries, builds in progress excluded.
func (r *Registry[K]) Len() int {
	if r.due.Load() {
		r.sweep()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// entryCount is Len for metric collection, which must not sweep: a sweep
// runs OnEvict and Busy, user code.
func (r *Registry[K]) entryCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// All returns an iterator over the entries' keys and pipelines, for health
// checks and live views, in no particular order. It iterates over a
// snapshot taken when iteration starts, without any lock held; it does not
// count as use of the entries.
func (r *Registry[K]) All() iter.Seq2[K, *policy.Pipeline] {
	return func(yield func(K, *policy.Pipeline) bool) {
		if r.due.Load() {
			r.sweep()
		}
		r.mu.Lock()
		snapshot := make([]*entry[K], len(r.entries))
		copy(snapshot, r.entries)
		r.mu.Unlock()
		for _, e := range snapshot {
			if !yield(e.key, e.pipeline) {
				return
			}
		}
	}
}
