package registry_test

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/registry"
	"github.com/palisade-go/palisade/telemetry"
)

func hostKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "host-" + strconv.Itoa(i) + ".example.com:443"
	}
	return keys
}

func filled(b *testing.B, cfg registry.Config[string], keys []string) *registry.Registry[string] {
	cfg.New = breakerPipeline
	r := registry.Must(cfg)
	for _, k := range keys {
		if _, err := r.Get(k); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

// BenchmarkGet is the Get of an existing key among 1,000: no lock, no
// clock read, no allocation.
func BenchmarkGet(b *testing.B) {
	keys := hostKeys(1000)
	r := filled(b, registry.Config[string]{}, keys)
	key := keys[500]
	b.ReportAllocs()
	for b.Loop() {
		if p, _ := r.Get(key); p == nil {
			b.Fatal("no pipeline")
		}
	}
}

// BenchmarkGetIdleTTL is BenchmarkGet with idle eviction on: still no clock
// read per Get.
func BenchmarkGetIdleTTL(b *testing.B) {
	keys := hostKeys(1000)
	r := filled(b, registry.Config[string]{IdleTTL: time.Hour}, keys)
	key := keys[500]
	b.ReportAllocs()
	for b.Loop() {
		if p, _ := r.Get(key); p == nil {
			b.Fatal("no pipeline")
		}
	}
}

// BenchmarkGetParallel is BenchmarkGet on every core, every goroutine
// asking for the same hot key.
func BenchmarkGetParallel(b *testing.B) {
	keys := hostKeys(1000)
	r := filled(b, registry.Config[string]{IdleTTL: time.Hour}, keys)
	key := keys[500]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if p, _ := r.Get(key); p == nil {
				b.Error("no pipeline")
				return
			}
		}
	})
}

// BenchmarkGetIntKey is BenchmarkGet with integer keys (tenant ids).
func BenchmarkGetIntKey(b *testing.B) {
	r := registry.Must(registry.Config[int]{New: func(int) (*policy.Pipeline, error) { return breakerPipeline("") }})
	for i := range 1000 {
		_, _ = r.Get(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if p, _ := r.Get(500); p == nil {
			b.Fatal("no pipeline")
		}
	}
}

// BenchmarkMapFloor is a Go map lookup of the same string key, the floor
// of any keyed lookup, for comparison in the same run.
func BenchmarkMapFloor(b *testing.B) {
	keys := hostKeys(1000)
	m := make(map[string]*policy.Pipeline, len(keys))
	for _, k := range keys {
		m[k], _ = breakerPipeline(k)
	}
	key := keys[500]
	for b.Loop() {
		if m[key] == nil {
			b.Fatal("no pipeline")
		}
	}
}

// BenchmarkIdleBreakers measures the memory of 100,000 idle entries, each a
// pipeline of one default breaker with telemetry off, and, for comparison,
// of the bare breakers and of the registry's own share. Run with
// -benchtime=1x: each iteration builds 100,000 entries.
func BenchmarkIdleBreakers(b *testing.B) {
	const n = 100_000
	keys := hostKeys(n)
	for b.Loop() {
		before := heap()
		breakers := make([]*breaker.Breaker, n)
		for i := range breakers {
			breakers[i] = breaker.Must(breaker.Config{Telemetry: telemetry.Disabled()})
		}
		bare := heap() - before
		runtime.KeepAlive(breakers)
		breakers = nil

		before = heap()
		r := registry.Must(registry.Config[string]{MaxEntries: n, New: breakerPipeline})
		for _, k := range keys {
			if _, err := r.Get(k); err != nil {
				b.Fatal(err)
			}
		}
		total := heap() - before
		if r.Len() != n {
			b.Fatalf("Len = %d", r.Len())
		}
		runtime.KeepAlive(r)
		b.ReportMetric(float64(total)/(1<<20), "MB/100k-entries")
		b.ReportMetric(float64(total)/n, "B/entry")
		b.ReportMetric(float64(bare)/n, "B/bare-breaker")
	}
}

// heap returns the bytes of live heap after a collection.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
