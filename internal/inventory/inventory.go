// Package inventory keeps the process-wide list of live policies, which the
// live view (package live) shows.
//
// A policy registers itself once, in its constructor, with [Add]. The
// inventory holds it weakly: a policy that nothing else references is
// collected as if it had never registered, and its entry is removed by a
// cleanup (runtime.AddCleanup), so registering neither keeps a policy alive
// nor makes a dropped one linger in the view. Registration costs a lock, a
// map insert and a weak handle at construction; nothing on the call path
// ever touches the inventory.
//
// Adding a kind of policy is one line in its constructor:
//
//	inventory.Add(l, "ratelimit", func(l *Limiter) inventory.Facts {
//		return inventory.Facts{"rate": l.rate, "burst": l.burst}
//	})
//
// The facts function gives what the policy's exported methods do not
// (its configuration, the end of a break); the view renders the facts of a
// kind it does not know as a table, and the kinds it knows (breaker,
// bulkhead, budget, pipeline) from their exported methods as well. Two
// facts are read specially for a kind the view does not know: "state" (a
// string or fmt.Stringer) is shown as its badge, and "level" ("ok", "warn"
// or "bad") colours it. Its name is its Name method's, if it has one.
package inventory

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"weak"
)

// Facts are what a policy tells the view about itself, by name. Values are
// plain data: numbers, strings, bools, time.Duration, time.Time (a
// pipeline also lists its policies, as []policy.Policy).
type Facts map[string]any

// Item is one live policy, as [List] returns it.
type Item struct {
	ID    uint64 // unique in the process, in order of registration
	Kind  string // the policy's package name: "breaker", "bulkhead", …
	Owner any    // the policy: *breaker.Breaker, *bulkhead.Bulkhead, …
	Facts Facts  // from the facts function given to Add; nil if none
}

// handle is one registered policy, held weakly. The map holds handles
// and nothing else, as small as they can be: a registry may keep a hundred
// thousand policies, each one entry here.
type handle interface {
	kind() string
	get() (owner any, facts func() Facts)
}

type weakHandle[T any] struct {
	owner weak.Pointer[T]
	facts func(*T) Facts
	k     string
}

func (h *weakHandle[T]) kind() string { return h.k }

func (h *weakHandle[T]) get() (any, func() Facts) {
	p := h.owner.Value()
	if p == nil {
		return nil, nil
	}
	if h.facts == nil {
		return p, nil
	}
	return p, func() Facts { return h.facts(p) }
}

type entry struct {
	id uint64
	h  handle
}

var (
	mu      sync.Mutex
	entries = make(map[uint64]handle)
	lastID  uint64
)

// Add registers owner, a policy of the given kind (its package name), for
// as long as owner is reachable. facts, which may be nil, is called on the
// view's goroutine when it looks at the policy: it must be safe for
// concurrent use, cheap, call no user code, and must not capture owner
// (it is given owner instead), or the policy would never be collected.
func Add[T any](owner *T, kind string, facts func(*T) Facts) {
	mu.Lock()
	lastID++
	id := lastID
	entries[id] = &weakHandle[T]{owner: weak.Make(owner), facts: facts, k: kind}
	mu.Unlock()
	runtime.AddCleanup(owner, remove, id)
}

// Track is Add returning owner, for constructors that return a composite
// literal.
func Track[T any](owner *T, kind string, facts func(*T) Facts) *T {
	Add(owner, kind, facts)
	return owner
}

func remove(id uint64) {
	mu.Lock()
	delete(entries, id)
	mu.Unlock()
}

// Len returns the number of registered policies, some of which may have
// just become unreachable.
func Len() int {
	mu.Lock()
	defer mu.Unlock()
	return len(entries)
}

// List returns the first max live policies (all of them if max <= 0), in
// order of registration, with their facts, and how many are registered in
// all. The facts functions run outside the inventory's lock. A facts
// function that panics (a bug) gives the single fact "error" instead of
// taking the viewer's goroutine down.
func List(max int) (items []Item, total int) {
	mu.Lock()
	all := make([]entry, 0, len(entries))
	for id, h := range entries {
		all = append(all, entry{id, h})
	}
	mu.Unlock()
	slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.id, b.id) })
	items = make([]Item, 0, min(len(all), 1024))
	for _, e := range all {
		if max > 0 && len(items) == max {
			break
		}
		owner, facts := e.h.get()
		if owner == nil {
			continue // collected; its cleanup has not run yet
		}
		items = append(items, Item{ID: e.id, Kind: e.h.kind(), Owner: owner, Facts: safeFacts(facts)})
	}
	return items, len(all)
}

// Find returns the live policy registered under id.
func Find(id uint64) (Item, bool) {
	mu.Lock()
	h, ok := entries[id]
	mu.Unlock()
	if !ok {
		return Item{}, false
	}
	owner, facts := h.get()
	if owner == nil {
		return Item{}, false
	}
	return Item{ID: id, Kind: h.kind(), Owner: owner, Facts: safeFacts(facts)}, true
}

func safeFacts(facts func() Facts) (f Facts) {
	if facts == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			f = Facts{"error": fmt.Sprint("facts panicked: ", r)}
		}
	}()
	return facts()
}
