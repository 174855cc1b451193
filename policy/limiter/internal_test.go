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
