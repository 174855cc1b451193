package registry

import (
	"hash/maphash"
	"sync/atomic"
)

// shardBits sets the number of shards of a table: a write copies one
// shard, about 1/1024 of the entries (a hundred for a registry of 100,000),
// and an empty table is 8 KiB of shard pointers.
const (
	shardBits = 10
	shards    = 1 << shardBits
)

// table maps keys to entries. Reads take no lock and allocate nothing: the
// key is hashed once, picks a shard, and is looked up in that shard's
// immutable open-addressing array. A write (under the registry's lock)
// builds a new array for the one shard it changes and publishes it
// atomically, so that a reader sees either the old shard or the new one.
//
// A Go map in an atomic pointer would do the same with a second hashing of
// the key per read; sync.Map costs about half as much again as this on the
// benchmarks of this package.
type table[K comparable] struct {
	seed   maphash.Seed
	shards [shards]atomic.Pointer[shard[K]]
}

// shard is an immutable open-addressing hash table with linear probing,
// at most half full.
type shard[K comparable] struct {
	slots []slot[K]
	mask  uint64
	n     int
}

type slot[K comparable] struct {
	hash  uint64
	entry *entry[K] // nil: empty
}

func newTable[K comparable]() *table[K] {
	return &table[K]{seed: maphash.MakeSeed()}
}

func (t *table[K]) hash(key K) uint64 { return maphash.Comparable(t.seed, key) }

// load returns the entry of key, or nil.
func (t *table[K]) load(key K) *entry[K] {
	h := t.hash(key)
	s := t.shards[h&(shards-1)].Load()
	if s == nil {
		return nil
	}
	for i := (h >> shardBits) & s.mask; ; i = (i + 1) & s.mask {
		sl := &s.slots[i]
		if sl.entry == nil {
			return nil
		}
		if sl.hash == h && sl.entry.key == key {
			return sl.entry
		}
	}
}

// store adds e, whose key is not in the table. Callers hold the registry's
// lock.
func (t *table[K]) store(e *entry[K]) {
	h := t.hash(e.key)
	p := &t.shards[h&(shards-1)]
	old := p.Load()
	n := 1
	if old != nil {
		n += old.n
	}
	s := newShard[K](n)
	if old != nil {
		for _, sl := range old.slots {
			if sl.entry != nil {
				s.put(sl)
			}
		}
	}
	s.put(slot[K]{hash: h, entry: e})
	p.Store(s)
}

// delete removes e if it is the entry of its key. Callers hold the
// registry's lock.
func (t *table[K]) delete(e *entry[K]) {
	h := t.hash(e.key)
	p := &t.shards[h&(shards-1)]
	old := p.Load()
	if old == nil {
		return
	}
	if old.n == 1 {
		if old.has(e) {
			p.Store(nil)
		}
		return
	}
	s := newShard[K](old.n - 1)
	found := false
	for _, sl := range old.slots {
		switch {
		case sl.entry == nil:
		case sl.entry == e:
			found = true
		default:
			s.put(sl)
		}
	}
	if found {
		p.Store(s)
	}
}

func newShard[K comparable](n int) *shard[K] {
	size := 4
	for size < 2*n {
		size <<= 1
	}
	return &shard[K]{slots: make([]slot[K], size), mask: uint64(size - 1), n: n}
}

// put adds sl to s, which is being built and has room.
func (s *shard[K]) put(sl slot[K]) {
	i := (sl.hash >> shardBits) & s.mask
	for s.slots[i].entry != nil {
		i = (i + 1) & s.mask
	}
	s.slots[i] = sl
}

func (s *shard[K]) has(e *entry[K]) bool {
	for _, sl := range s.slots {
		if sl.entry == e {
			return true
		}
	}
	return false
}
