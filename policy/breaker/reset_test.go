package breaker_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/palisade-go/palisade/policy/breaker"
)

// Closing a breaker, or Reset, starts a fresh window by reusing the slots
// of the old one, not by allocating as many again under the lock: 20
// Resets of a breaker with the largest count window, timed, used to
// allocate 20 × 12 B × MaxWindowSize, 4 GB.
func TestResetReusesTheCountWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a large window")
	}
	for _, cfg := range []breaker.Config{
		{WindowSize: 1_000_000},
		{WindowSize: 1_000_000, SlowCallDuration: time.Second},
	} {
		b := newBreaker(t, cfg)
		run(t, b, 10, fail) // opens it, window in use
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 20 {
			b.Reset()
		}
		runtime.ReadMemStats(&after)
		perReset := (after.TotalAlloc - before.TotalAlloc) / 20
		assert.Less(t, perReset, uint64(1024), "bytes allocated per Reset, %+v", cfg)
		assert.Equal(t, 0, b.Metrics().Calls, "the window is empty after Reset")
	}
}
