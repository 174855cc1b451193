package breaker_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy/breaker"
)

// Run with -race. Goroutines call through every path at once — Execute,
// Allow/Done, State, Metrics, Isolate, Reset — in bursts of failures that
// open the breaker again and again: no call may be lost or counted twice,
// and OnStateChange must see an unbroken chain of transitions.
func TestNoCallIsLostUnderContention(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  breaker.Config
	}{
		{"count window", breaker.Config{WindowSize: 50}},
		{"time window", breaker.Config{WindowDuration: 20 * time.Millisecond}},
		{"timed count window", breaker.Config{WindowSize: 50, SlowCallDuration: time.Hour}},
		{"timed time window", breaker.Config{WindowDuration: 20 * time.Millisecond, SlowCallDuration: time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var (
					mu      sync.Mutex
					chain   = []breaker.State{breaker.Closed}
					broken  bool
					changes int
				)
				cfg := tc.cfg
				cfg.MinimumThroughput = 20
				cfg.BreakDuration = time.Millisecond
				cfg.HalfOpenCalls = 2
				cfg.SuccessThreshold = 2
				cfg.OnStateChange = func(from, to breaker.State) {
					mu.Lock()
					defer mu.Unlock()
					if chain[len(chain)-1] != from {
						broken = true
					}
					chain = append(chain, to)
					changes++
				}
				b := newBreaker(t, cfg)

				const goroutines, calls = 8, 2000
				var attempts, ran atomic.Int64
				var wg sync.WaitGroup
				for g := range goroutines {
					wg.Go(func() {
						ctx := context.Background()
						for i := range calls {
							fn := func(context.Context) error {
								ran.Add(1)
								if (i/40)%3 == 0 { // bursts of failures
									return errDown
								}
								return nil
							}
							attempts.Add(1)
							if i%4 == 0 {
								if p, err := b.Allow(); err == nil {
									p.Done(fn(ctx))
								}
							} else {
								_ = b.Execute(ctx, fn)
							}
							switch {
							case i%97 == 0:
								time.Sleep(time.Millisecond) // let a break end
							case g == 0 && i%500 == 250:
								b.Isolate()
							case g == 0 && i%500 == 300:
								b.Reset()
							case i%50 == 0:
								_ = b.State()
								_ = b.Metrics()
							}
						}
					})
				}
				wg.Wait()

				m := b.Metrics()
				assert.Equal(t, attempts.Load(), m.TotalCalls+m.Rejected, "every attempt ran or was rejected")
				assert.Equal(t, ran.Load(), m.TotalCalls, "every call that ran is counted, once")
				assert.NotZero(t, m.Rejected)
				mu.Lock()
				defer mu.Unlock()
				require.False(t, broken, "transitions out of order: %v", chain)
				t.Logf("transitions %d, total %d, rejected %d", changes, m.TotalCalls, m.Rejected)
				assert.Greater(t, changes, 10, "the breaker went round many times")
				assert.Equal(t, m.State, chain[len(chain)-1], "the last transition delivered is to the current state")
			})
		})
	}
}
