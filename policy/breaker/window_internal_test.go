package breaker

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRingIndexIsPositionModuloSize(t *testing.T) {
	positions := []uint64{0, 1, 2, 99, 100, 101, 9_999, 10_000, 123_456_789, math.MaxUint32 - 1}
	for _, n := range []int{1, 2, 3, 7, 10, 100, 1000, 9_999, 10_000, MaxWindowSize - 1, MaxWindowSize} {
		r := newRing(n)
		for _, pos := range positions {
			assert.Equal(t, uint32(pos%uint64(n)), r.index(pos), "n=%d pos=%d", n, pos)
		}
		for pos := range uint64(3 * n) {
			if r.index(pos) != uint32(pos%uint64(n)) {
				t.Fatalf("n=%d pos=%d: index %d", n, pos, r.index(pos))
			}
			if pos > 100_000 {
				break
			}
		}
	}
}
