package breaker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy/breaker"
)

// HalfOpenCalls bounds the trial calls in flight, those of earlier half-open
// periods still running included: A and B are admitted (limit 2); A fails
// and reopens the breaker; after the break C is admitted, but D must wait
// for B, still running. B's end, stale, changes no state but frees its
// slot.
func TestHalfOpenCallsCountsTrialsOfEarlierPeriods(t *testing.T) {
	for _, bEnds := range []string{"success", "failure", "release"} {
		t.Run("B's "+bEnds, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				b := tripped(t, breaker.Config{BreakDuration: time.Second, SuccessThreshold: 2, HalfOpenCalls: 2, OnStateChange: rec.onChange})
				time.Sleep(time.Second)
				pa, err := b.Allow()
				require.NoError(t, err)
				pb, err := b.Allow()
				require.NoError(t, err)
				pa.Done(errDown)
				require.Equal(t, breaker.Open, b.State())

				time.Sleep(time.Second)
				pc, err := b.Allow()
				require.NoError(t, err, "C: B and C in flight")
				_, err = b.Allow()
				require.ErrorIs(t, err, breaker.ErrOpen, "D: B, of the earlier period, still runs: 2 in flight already")

				switch bEnds {
				case "success":
					pb.Done(nil)
				case "failure":
					pb.Done(errDown)
				case "release":
					pb.Release()
				}
				assert.Equal(t, breaker.HalfOpen, b.State(), "B is stale: it changes no state")
				pd, err := b.Allow()
				require.NoError(t, err, "D: B's end freed its slot")
				_, err = b.Allow()
				require.ErrorIs(t, err, breaker.ErrOpen, "C and D in flight")

				pc.Done(nil)
				assert.Equal(t, breaker.HalfOpen, b.State(), "one success of 2: B's did not count")
				pd.Done(nil)
				assert.Equal(t, breaker.Closed, b.State())
				assert.Equal(t, []string{"closed->open", "open->half_open", "half_open->open", "open->half_open", "half_open->closed"}, rec.got)
			})
		})
	}
}

// A trial admitted before Reset still runs against the dependency: it
// still counts against HalfOpenCalls in a later half-open period, until it
// ends.
func TestHalfOpenCallsCountsTrialsAdmittedBeforeReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := tripped(t, breaker.Config{BreakDuration: time.Second, SuccessThreshold: 1, HalfOpenCalls: 1})
		time.Sleep(time.Second)
		stale, err := b.Allow()
		require.NoError(t, err)
		b.Reset()
		run(t, b, 1, fail) // opens again (ConsecutiveFailures 1)
		time.Sleep(time.Second)
		_, err = b.Allow()
		require.ErrorIs(t, err, breaker.ErrOpen, "the trial admitted before Reset is still in flight")
		stale.Done(nil)
		assert.Equal(t, breaker.HalfOpen, b.State(), "stale: no state change")
		run(t, b, 1, ok)
		assert.Equal(t, breaker.Closed, b.State())
	})
}

// Run with -race. Goroutines hammer a breaker that goes round open and
// half-open but never closes (its SuccessThreshold is out of reach), so
// that every call that runs is a trial call: at no instant may more than
// HalfOpenCalls of them run, whichever half-open period admitted them and
// however they end — success, failure, panic, ignored error, caller's
// cancellation, Release.
func TestHalfOpenCallsNeverExceededUnderStress(t *testing.T) {
	for _, limit := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("HalfOpenCalls ", limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var closed atomic.Bool
				b := tripped(t, breaker.Config{
					BreakDuration:    time.Millisecond,
					SuccessThreshold: 1 << 30,
					HalfOpenCalls:    limit,
					IsIgnored:        isInvalid,
					OnStateChange: func(_, to breaker.State) {
						if to == breaker.Closed {
							closed.Store(true)
						}
					},
				})
				var inFlight, peak, ran atomic.Int64
				enter := func() {
					n := inFlight.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					ran.Add(1)
				}
				const goroutines, attempts = 8, 400
				var wg sync.WaitGroup
				for g := range goroutines {
					wg.Go(func() {
						rng := rand.New(rand.NewPCG(uint64(g), 10))
						for range attempts {
							d := time.Duration(rng.IntN(3000)) * time.Microsecond
							kind := rng.IntN(8)
							ctx, cancel := context.WithCancel(context.Background())
							if kind >= 6 { // two-step
								p, err := b.AllowContext(ctx)
								if err != nil {
									cancel()
									time.Sleep(200 * time.Microsecond)
									continue
								}
								enter()
								time.Sleep(d)
								inFlight.Add(-1)
								if kind == 6 {
									p.Release()
								} else {
									p.Done(errDown)
								}
								cancel()
								continue
							}
							func() {
								defer func() { _ = recover() }()
								_ = b.Execute(ctx, func(ctx context.Context) error {
									enter()
									time.Sleep(d)
									inFlight.Add(-1)
									switch kind {
									case 0:
										return errDown // reopens
									case 1:
										panic("trial") // reopens
									case 2:
										return errInvalid // ignored
									case 3:
										cancel() // the caller gives up: ignored
										return ctx.Err()
									}
									return nil // a trial success, of too many needed
								})
							}()
							cancel()
							time.Sleep(200 * time.Microsecond)
						}
					})
				}
				wg.Wait()
				require.False(t, closed.Load(), "set-up: the breaker must never close, or its calls would not all be trials")
				t.Logf("limit %d: %d trial calls ran, at most %d at once; %d rejected", limit, ran.Load(), peak.Load(), b.Metrics().Rejected)
				assert.LessOrEqual(t, peak.Load(), int64(limit), "trial calls in flight at once")
				assert.Greater(t, ran.Load(), int64(40), "set-up: enough trials ran")

				// Every slot was given back: after the break, limit trials are admitted.
				time.Sleep(time.Millisecond)
				var permits []breaker.Permit
				for i := range limit {
					p, err := b.Allow()
					require.NoError(t, err, "trial %d of %d", i+1, limit)
					permits = append(permits, p)
				}
				for i := range permits {
					permits[i].Release()
				}
			})
		})
	}
}
