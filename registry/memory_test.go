package registry_test

import (
	"runtime"
	"testing"

	"github.com/palisade-go/palisade/registry"
)

// TestIdleEntriesFitTheMemoryBudget holds the registry to its budget:
// 100,000 idle entries (each a pipeline of one default breaker, telemetry
// off), as a service keeping a breaker per host might, fit in 100 MB.
func TestIdleEntriesFitTheMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement: skipped under -short")
	}
	const n = 100_000
	keys := hostKeys(n)
	before := heap()
	r := registry.Must(registry.Config[string]{MaxEntries: n, New: breakerPipeline})
	for _, k := range keys {
		if _, err := r.Get(k); err != nil {
			t.Fatal(err)
		}
	}
	used := heap() - before
	runtime.KeepAlive(r)
	t.Logf("%d idle entries: %.1f MB, %d bytes each", n, float64(used)/(1<<20), used/n)
	if used > 100<<20 {
		t.Errorf("%d idle entries take %.1f MB, want at most 100 MB", n, float64(used)/(1<<20))
	}
}
