package limiter

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/telemetry"
)

type rejection struct{}

func (rejection) Error() string        { return "inner rejection" }
func (rejection) Is(target error) bool { return target == policy.ErrRejected }

// TestSamplesExclude: an inner rejection, the caller's cancellation and an
// error that is not a drop are not measured; a timeout is a drop; a success
// is a sample (concurrency-limits#176, PR#146).
func TestSamplesExclude(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Must(Config{SampleWindow: time.Hour, Telemetry: telemetry.Disabled()})
		l.sampleAll = true
		sleepThen := func(err error) func(context.Context) error {
			return func(context.Context) error { time.Sleep(time.Millisecond); return err }
		}
		_ = l.Execute(t.Context(), sleepThen(rejection{}))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_ = l.Execute(ctx, sleepThen(context.Canceled))
		_ = l.Execute(t.Context(), sleepThen(errors.New("not found")))
		if l.count.Load() != 0 || l.drops.Load() != 0 {
			t.Fatalf("count %d drops %d, want nothing measured", l.count.Load(), l.drops.Load())
		}
		_ = l.Execute(t.Context(), sleepThen(context.DeadlineExceeded))
		_ = l.Execute(t.Context(), sleepThen(nil))
		if l.count.Load() != 1 || l.drops.Load() != 1 || l.sumRTT.Load() != int64(time.Millisecond) {
			t.Fatalf("count %d drops %d sum %v", l.count.Load(), l.drops.Load(), time.Duration(l.sumRTT.Load()))
		}
	})
}

// TestBaselineDoesNotDriftUp: under a long overload where latency keeps
// rising, Vegas's no-load latency stays what the probe measured (it moves
// up only at a probe, measured at ProbeLimit calls in flight).
func TestBaselineDoesNotDriftUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Must(Config{ProbeInterval: time.Hour, Telemetry: telemetry.Disabled()})
		l.estimate = 40
		l.noLoad = float64(5 * time.Millisecond)
		l.nextProbe = int64(time.Hour)
		for i := range 1000 { // latency creeps up, the limit binding
			l.vegas(sample{avgRTT: float64(5*time.Millisecond + time.Duration(i)*time.Millisecond), count: 50, maxInFlight: 40, saturated: true})
		}
		if l.noLoad != float64(5*time.Millisecond) {
			t.Fatalf("baseline drifted to %v", time.Duration(l.noLoad))
		}
		l.longRTT = float64(5 * time.Millisecond)
		l.estimate = 40
		for i := range 1000 {
			l.estimate = l.gradient2(sample{avgRTT: float64(5*time.Millisecond + time.Duration(i)*time.Millisecond), count: 50, maxInFlight: 40, saturated: true})
		}
		if l.longRTT != float64(5*time.Millisecond) {
			t.Fatalf("Gradient2's long-term latency drifted to %v", time.Duration(l.longRTT))
		}
		if l.estimate > 10 {
			t.Fatalf("Gradient2 limit %v after a long overload", l.estimate)
		}
	})
}

// TestRaisedLimitAdmitsWaiters: a raise hands the new slots to waiters at
// once.
func TestRaisedLimitAdmitsWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Must(Config{InitialLimit: 1, MaxQueue: 5, Telemetry: telemetry.Disabled()})
		release := make(chan struct{})
		done := make(chan error, 4)
		for range 4 {
			go func() { done <- l.Execute(t.Context(), func(context.Context) error { <-release; return nil }) }()
			synctest.Wait()
		}
		if l.InFlight() != 1 || l.Queued() != 3 {
			t.Fatalf("InFlight %d Queued %d", l.InFlight(), l.Queued())
		}
		l.gate.SetLimit(3)
		synctest.Wait()
		if l.InFlight() != 3 || l.Queued() != 1 {
			t.Fatalf("after the raise: InFlight %d Queued %d", l.InFlight(), l.Queued())
		}
		l.gate.SetLimit(1) // lowered: running calls go on, no hand-off until below
		close(release)
		for range 4 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestVegasHoldsASmallDependencysQueueUnderItsWorkers: in front of a
// dependency serving 4 calls at once, Vegas does not hold the queue of 3..6
// calls its band allows a large one (6 queued at 4 workers is 1.5 service
// times of waiting, 2.5× the no-load latency): the band is capped by the
// concurrency served without a queue, so a queue of 6 steps the limit down,
// and a queue of 3 to 4 is held.
func TestVegasHoldsASmallDependencysQueueUnderItsWorkers(t *testing.T) {
	l := Must(Config{Telemetry: telemetry.Disabled()})
	l.noLoad = float64(5 * time.Millisecond)
	window := func(limit float64, inFlight int) float64 {
		l.estimate = limit
		// FIFO at 4 workers: latency grows by a service time per 4 calls.
		rtt := max(1, float64(inFlight)/4) * float64(5*time.Millisecond)
		return l.vegas(sample{avgRTT: rtt, count: 100, maxInFlight: int64(inFlight), saturated: true})
	}
	if got := window(10, 10); got >= 10 {
		t.Errorf("limit 10 with 6 queued at 4 workers: next limit %v, want lower", got)
	}
	if got := window(8, 8); got != 8 {
		t.Errorf("limit 8 with 4 queued at 4 workers: next limit %v, want 8 held", got)
	}
	if got := window(5, 5); got <= 5 {
		t.Errorf("limit 5 with 1 queued at 4 workers: next limit %v, want higher", got)
	}
}
