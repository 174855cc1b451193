package bulkhead

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/internal/gate"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/telemetry"
)

// giveUpRace hands the held slot to the first waiter at the moment it has
// decided to give up, before it takes the lock: the race in which a slot
// could be lost.
func giveUpRace(t *testing.T, b *Bulkhead) {
	var once sync.Once
	gate.TestHookGiveUp = func() { once.Do(b.release) }
	t.Cleanup(func() { gate.TestHookGiveUp = nil })
}

type outcome struct {
	ran bool
	err error
}

func run(ctx context.Context, b *Bulkhead, release <-chan struct{}) <-chan outcome {
	c := make(chan outcome, 1)
	go func() {
		var o outcome
		o.err = b.Execute(ctx, func(context.Context) error {
			o.ran = true
			<-release
			return nil
		})
		c <- o
	}()
	return c
}

func TestSlotHandedToCancelledWaiterIsPassedOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Must(Config{MaxConcurrent: 1, MaxQueue: 2, Telemetry: telemetry.Disabled()})
		require.True(t, b.tryAcquire()) // the test holds the only slot
		giveUpRace(t, b)

		release := make(chan struct{})
		ctx1, cancel1 := context.WithCancel(t.Context())
		w1 := run(ctx1, b, release)
		synctest.Wait()
		w2 := run(t.Context(), b, release)
		synctest.Wait()
		require.Equal(t, 2, b.Queued())

		cancel1() // w1 gives up; the hook frees the slot, which goes to w1
		synctest.Wait()
		o1 := <-w1
		assert.False(t, o1.ran)
		assertWaitEnded(t, context.Canceled, o1.err)
		// w1 passed the slot on to w2.
		assert.Equal(t, 1, b.InFlight())
		assert.Equal(t, 0, b.Queued())
		close(release)
		o2 := <-w2
		assert.True(t, o2.ran)
		require.NoError(t, o2.err)
		assert.Equal(t, 0, b.InFlight())
	})
}

func TestSlotHandedToCancelledLastWaiterIsFreed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Must(Config{MaxConcurrent: 1, MaxQueue: 1, Telemetry: telemetry.Disabled()})
		require.True(t, b.tryAcquire())
		giveUpRace(t, b)

		ctx, cancel := context.WithCancel(t.Context())
		w := run(ctx, b, nil)
		synctest.Wait()
		cancel()
		o := <-w
		assert.False(t, o.ran)
		assertWaitEnded(t, context.Canceled, o.err)
		assert.Equal(t, 0, b.InFlight())
		assert.Equal(t, 0, b.Queued())
		assert.True(t, b.tryAcquire(), "the slot is free for the fast path again")
		b.release()
	})
}

func TestSlotHandedAsMaxWaitPassesIsUsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Must(Config{MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Second, Telemetry: telemetry.Disabled()})
		require.True(t, b.tryAcquire())
		giveUpRace(t, b)

		release := make(chan struct{})
		close(release)
		o := <-run(t.Context(), b, release)
		assert.True(t, o.ran, "a waiter handed a slot as its MaxWait passed runs")
		require.NoError(t, o.err)
		assert.Equal(t, 0, b.InFlight())
		assert.Equal(t, 0, b.Queued())
	})
}

func TestFlagClearedWhenQueueEmpties(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Must(Config{MaxConcurrent: 2, MaxQueue: 1, MaxWait: time.Second, Telemetry: telemetry.Disabled()})
		require.True(t, b.tryAcquire())
		require.True(t, b.tryAcquire())
		w := run(t.Context(), b, nil)
		synctest.Wait()
		assert.Equal(t, 2, b.InFlight())
		assert.Equal(t, 1, b.Queued())
		assert.False(t, b.tryAcquire())
		o := <-w // MaxWait passes
		require.ErrorIs(t, o.err, ErrFull)
		assert.Equal(t, 2, b.InFlight())
		assert.Equal(t, 0, b.Queued())
		b.release()
		assert.True(t, b.tryAcquire(), "the flag is cleared with the last waiter: the fast path works again")
		b.release()
		b.release()
		assert.Equal(t, 0, b.InFlight())
		assert.Panics(t, b.release, "a slot nobody holds")
		assert.Equal(t, 0, b.InFlight(), "the unheld release is undone")
		assert.True(t, b.tryAcquire())
	})
}

// The slot a release frees while waiters are queued is taken by a newcomer
// on the fast path, because the last waiter gave up before the release
// could hand it over; a second newcomer queues. The release must then hand
// nothing over: the slot it freed is gone, and granting one would exceed
// the limit.
func TestHandOffOfSlotTakenMeanwhile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Must(Config{MaxConcurrent: 1, MaxQueue: 1, Telemetry: telemetry.Disabled()})
		require.True(t, b.tryAcquire())
		ctx, cancel := context.WithCancel(t.Context())
		gaveUp := run(ctx, b, nil)
		synctest.Wait()

		release := make(chan struct{})
		var late <-chan outcome
		var once sync.Once
		gate.TestHookHandOff = func() {
			once.Do(func() {
				cancel()
				assertWaitEnded(t, context.Canceled, (<-gaveUp).err)
				require.True(t, b.tryAcquire(), "the freed slot is free for the fast path once nobody waits")
				late = run(t.Context(), b, release)
				synctest.Wait()
				require.Equal(t, 1, b.Queued())
			})
		}
		t.Cleanup(func() { gate.TestHookHandOff = nil })

		b.release() // the slot held since the start; the hook runs
		synctest.Wait()
		assert.Equal(t, 1, b.InFlight(), "limit exceeded")
		assert.Equal(t, 1, b.Queued())

		b.release() // the slot taken in the hook: now it goes to late
		close(release)
		o := <-late
		assert.True(t, o.ran)
		require.NoError(t, o.err)
		assert.Equal(t, 0, b.InFlight())
		assert.Equal(t, 0, b.Queued())
	})
}

// assertWaitEnded asserts that err is the error of a call whose context
// ended, with ctxErr, before it got a slot: it never reached its function,
// so it matches policy.ErrRejected as well as ctxErr, but not ErrFull.
func assertWaitEnded(t *testing.T, ctxErr, err error) {
	t.Helper()
	assert.ErrorIs(t, err, ctxErr)
	assert.ErrorIs(t, err, policy.ErrRejected)
	assert.NotErrorIs(t, err, ErrFull)
}

// tryAcquire is the fast path alone, for the tests.
func (b *Bulkhead) tryAcquire() bool {
	ok, _ := b.gate.TryAcquire()
	return ok
}
