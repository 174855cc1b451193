package hedge

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverDurationsWithinSixPercent(t *testing.T) {
	prev := -1
	for ns := int64(0); ns < 1<<41; ns = ns + 1 + ns/7 {
		b := bucketOf(ns)
		if b < prev || b >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d", ns, b, prev)
		}
		prev = b
		up := int64(upperBound(b))
		if ns < 1<<40 && (up <= ns || float64(up-ns) > float64(ns)/16+1) {
			t.Fatalf("bucketOf(%d) = %d, upper bound %d: not above it within 1/16", ns, b, up)
		}
	}
	if bucketOf(-5) != 0 || bucketOf(1<<62) != numBuckets-1 {
		t.Fatal("out-of-range samples must land in the end buckets")
	}
}

func TestQuantileTracksRecentSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	e := newQuantile(0.95)
	if _, ok := e.get(); ok {
		t.Fatal("an estimate with no sample")
	}
	// 98% of 2ms ± 0.5ms, 2% of 100ms: p95 is ~2.5ms.
	var samples []time.Duration
	for range 5000 {
		d := 1500*time.Microsecond + rand.N(time.Millisecond)
		if rng.IntN(100) < 2 {
			d = 100 * time.Millisecond
		}
		samples = append(samples, d)
		e.add(d)
	}
	got, ok := e.get()
	slices.Sort(samples)
	want := samples[len(samples)*95/100]
	if !ok || got < want || float64(got) > float64(want)*1.1 {
		t.Fatalf("p95 estimate %v (%v), true p95 %v", got, ok, want)
	}
	// The dependency slows down tenfold: within two generations the
	// estimate follows.
	for range 2 * e.generation {
		e.add(10*time.Millisecond + rand.N(time.Millisecond))
	}
	if got, _ := e.get(); got < 10*time.Millisecond || got > 12*time.Millisecond {
		t.Fatalf("after the slowdown, p95 estimate %v", got)
	}
}

func TestQuantileWaitsForEnoughSamples(t *testing.T) {
	e := newQuantile(0.99)
	for range e.minSamples - 1 {
		e.add(time.Millisecond)
	}
	if _, ok := e.get(); ok {
		t.Fatalf("an estimate after %d samples, minimum %d", e.minSamples-1, e.minSamples)
	}
	e.add(time.Millisecond)
	if d, ok := e.get(); !ok || d < time.Millisecond || d > 1100*time.Microsecond {
		t.Fatalf("estimate %v (%v) of 1ms samples", d, ok)
	}
}
