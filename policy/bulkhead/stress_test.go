package bulkhead_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/bulkhead"
)

// TestStress hammers a small bulkhead from many goroutines, in real time,
// with contexts cancelled and timing out at random, and checks that nothing
// is lost: the limit was never exceeded, every call ended in exactly one
// way, the rejections reported match the ErrFull returned, and the counts
// end at zero. A lost wakeup would leave a call without deadline hanging.
func TestStress(t *testing.T) {
	for _, cfg := range []bulkhead.Config{
		{MaxConcurrent: 3, MaxQueue: 16},
		{MaxConcurrent: 3, MaxQueue: 16, MaxWait: 200 * time.Microsecond},
		{MaxConcurrent: 1, MaxQueue: 100},
		{MaxConcurrent: 4},
	} {
		t.Run(fmt.Sprintf("MaxConcurrent=%d,MaxQueue=%d,MaxWait=%v", cfg.MaxConcurrent, cfg.MaxQueue, cfg.MaxWait), func(t *testing.T) {
			stress(t, cfg)
		})
	}
}

func stress(t *testing.T, cfg bulkhead.Config) {
	const goroutines, calls = 32, 250
	if testing.Short() {
		t.Skip("stress test")
	}
	h := oteltest.New()
	cfg.Name = "stress"
	cfg.Telemetry = h.Telemetry
	b := bulkhead.Must(cfg)

	var (
		running, maxRunning      atomic.Int64
		fnCalls                  atomic.Int64
		ran, full, canceled, dls atomic.Int64
		wg                       sync.WaitGroup
	)
	fn := func(ctx context.Context) error {
		n := running.Add(1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		fnCalls.Add(1)
		if rand.IntN(4) == 0 {
			time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
		} else {
			runtime.Gosched()
		}
		running.Add(-1)
		return nil
	}
	for range goroutines {
		wg.Go(func() {
			for range calls {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				stop := func() bool { return false }
				switch rand.IntN(4) {
				case 0: // no deadline: would hang on a lost wakeup
				case 1:
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rand.IntN(300))*time.Microsecond)
				case 2:
					ctx, cancel = context.WithCancel(ctx)
					stop = time.AfterFunc(time.Duration(rand.IntN(300))*time.Microsecond, cancel).Stop
				case 3:
					ctx, cancel = context.WithCancel(ctx)
					if rand.IntN(2) == 0 {
						cancel()
					}
				}
				err := b.Execute(ctx, fn)
				stop()
				cancel()
				switch {
				case err == nil:
					ran.Add(1)
				case errors.Is(err, bulkhead.ErrFull):
					full.Add(1)
				case errors.Is(err, context.Canceled) && errors.Is(err, policy.ErrRejected):
					canceled.Add(1)
				case errors.Is(err, context.DeadlineExceeded) && errors.Is(err, policy.ErrRejected):
					dls.Add(1)
				default:
					t.Errorf("unexpected error %v", err)
				}
			}
		})
	}
	wg.Wait()

	assert.Equal(t, int64(goroutines*calls), ran.Load()+full.Load()+canceled.Load()+dls.Load(), "every call ends exactly one way")
	assert.Equal(t, ran.Load(), fnCalls.Load(), "fn ran for exactly the calls that succeeded")
	assert.LessOrEqual(t, maxRunning.Load(), int64(b.MaxConcurrent()), "limit exceeded")
	assert.Equal(t, 0, b.InFlight())
	assert.Equal(t, 0, b.Queued())
	if full.Load() > 0 {
		assert.Equal(t, full.Load(), oteltest.Point[int64](t, h, "palisade.rejected_calls",
			attribute.String("palisade.policy.type", "bulkhead"),
			attribute.String("palisade.policy.name", "stress"),
			attribute.String("error.type", "bulkhead_full")), "every ErrFull reported once")
	}
	t.Logf("ran %d, full %d, canceled %d, deadline %d, max running %d", ran.Load(), full.Load(), canceled.Load(), dls.Load(), maxRunning.Load())

	// Every slot is still there: MaxConcurrent calls hold one each at once.
	n := b.MaxConcurrent()
	entered := make(chan struct{}, n)
	release := make(chan struct{})
	for range n {
		wg.Go(func() {
			_ = b.Execute(context.Background(), func(context.Context) error {
				entered <- struct{}{}
				<-release
				return nil
			})
		})
	}
	for range n {
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			require.FailNow(t, "a slot was lost")
		}
	}
	close(release)
	wg.Wait()
}
