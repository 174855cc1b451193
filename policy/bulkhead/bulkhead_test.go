package bulkhead_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

func TestLimitRejectsAtOnceWithoutQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 3})
		var held []*call
		for range 3 {
			held = append(held, start(t.Context(), b))
		}
		synctest.Wait()
		for _, c := range held {
			require.True(t, c.ran())
		}
		assert.Equal(t, 3, b.InFlight())

		ran := false
		err := b.Execute(t.Context(), func(context.Context) error { ran = true; return nil })
		require.ErrorIs(t, err, bulkhead.ErrFull)
		assert.ErrorIs(t, err, policy.ErrRejected)
		assert.Equal(t, "bulkhead_full", telemetry.ErrorType(err))
		assert.False(t, ran, "a rejected call must not run")
		assert.Equal(t, 3, b.InFlight())
		assert.Equal(t, 0, b.Queued())

		held[0].finish()
		require.NoError(t, held[0].result())
		assert.Equal(t, 2, b.InFlight())
		require.NoError(t, b.Execute(t.Context(), func(context.Context) error { ran = true; return nil }))
		assert.True(t, ran, "a freed slot is usable again")

		for _, c := range held[1:] {
			c.finish()
			require.NoError(t, c.result())
		}
		assert.Equal(t, 0, b.InFlight())
	})
}

func TestDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{})
		assert.Equal(t, "bulkhead", b.Name())
		assert.Equal(t, bulkhead.DefaultMaxConcurrent, b.MaxConcurrent())

		var held []*call
		for range 100 {
			held = append(held, start(t.Context(), b))
		}
		synctest.Wait()
		assert.Equal(t, 100, b.InFlight())
		// No queue by default: the 101st call is refused at once.
		err := b.Execute(t.Context(), noop)
		require.ErrorIs(t, err, bulkhead.ErrFull)
		assert.Equal(t, 0, b.Queued())
		var be *bulkhead.Error
		require.ErrorAs(t, err, &be)
		assert.Equal(t, "bulkhead", be.Policy)
		assert.Zero(t, be.Waited)
		assert.Equal(t, "palisade/bulkhead: bulkhead: bulkhead full", err.Error())
		for _, c := range held {
			c.finish()
			require.NoError(t, c.result())
		}
		assert.Equal(t, 0, b.InFlight())
	})
}

func TestFunctionErrorComesBackUnchanged(t *testing.T) {
	b := mustNew(t, bulkhead.Config{MaxConcurrent: 1})
	want := errors.New("boom")
	err := b.Execute(t.Context(), func(context.Context) error { return want })
	assert.Same(t, want, err) //nolint:testifylint // the same value, not an equal one
	assert.Equal(t, 0, b.InFlight())
}

func TestFunctionGetsCallersContext(t *testing.T) {
	b := mustNew(t, bulkhead.Config{})
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "v")
	var got any
	require.NoError(t, b.Execute(ctx, func(ctx context.Context) error { got = ctx.Value(key{}); return nil }))
	assert.Equal(t, "v", got)
}

func TestFIFOAmongWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 5})
		holder := start(t.Context(), b)
		synctest.Wait()
		var waiters []*call
		for i := range 5 {
			waiters = append(waiters, start(t.Context(), b))
			synctest.Wait() // each is queued before the next arrives
			assert.Equal(t, i+1, b.Queued())
		}
		prev := holder
		for i, w := range waiters {
			for _, other := range waiters[i:] {
				assert.False(t, other.ran(), "waiter %d ran before its turn", i)
			}
			prev.finish()
			require.NoError(t, prev.result())
			synctest.Wait()
			require.True(t, w.ran(), "waiter %d did not get the slot freed before it", i)
			assert.Equal(t, 1, b.InFlight())
			assert.Equal(t, len(waiters)-i-1, b.Queued())
			prev = w
		}
		prev.finish()
		require.NoError(t, prev.result())
		assert.Equal(t, 0, b.InFlight())
		assert.Equal(t, 0, b.Queued())
	})
}

func TestNewcomersQueueBehindWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 2, MaxQueue: 2})
		h1, h2 := start(t.Context(), b), start(t.Context(), b)
		synctest.Wait()
		w1 := start(t.Context(), b)
		synctest.Wait()
		// h1 frees its slot: it goes to w1, and a call arriving now
		// waits behind rather than finding a free slot.
		h1.finish()
		require.NoError(t, h1.result())
		synctest.Wait()
		require.True(t, w1.ran())
		late := start(t.Context(), b)
		synctest.Wait()
		assert.False(t, late.ran())
		assert.Equal(t, 2, b.InFlight())
		assert.Equal(t, 1, b.Queued())

		h2.finish()
		synctest.Wait()
		assert.True(t, late.ran())
		w1.finish()
		late.finish()
		for _, c := range []*call{h2, w1, late} {
			require.NoError(t, c.result())
		}
		assert.Equal(t, 0, b.InFlight())
	})
}

func TestQueueBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 2})
		holder := start(t.Context(), b)
		synctest.Wait()
		w1 := start(t.Context(), b)
		synctest.Wait()
		w2 := start(t.Context(), b)
		synctest.Wait()
		assert.Equal(t, 1, b.InFlight())
		assert.Equal(t, 2, b.Queued())

		before := time.Now()
		err := b.Execute(t.Context(), noop)
		require.ErrorIs(t, err, bulkhead.ErrFull)
		assert.ErrorIs(t, err, policy.ErrRejected)
		assert.Equal(t, before, time.Now(), "a call finding the queue full is refused at once")
		assert.Equal(t, 2, b.Queued())

		for _, c := range []*call{holder, w1, w2} {
			synctest.Wait()
			require.True(t, c.ran())
			c.finish()
			require.NoError(t, c.result())
		}
		assert.Equal(t, 0, b.InFlight())
		assert.Equal(t, 0, b.Queued())
	})
}

func TestMaxWaitRefusesWithErrFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{Name: "db", MaxConcurrent: 1, MaxQueue: 2, MaxWait: time.Second})
		holder := start(t.Context(), b)
		synctest.Wait()
		began := time.Now()
		w1 := start(t.Context(), b)
		time.Sleep(300 * time.Millisecond)
		w2 := start(t.Context(), b)
		synctest.Wait()
		assert.Equal(t, 2, b.Queued())

		time.Sleep(time.Second - 300*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		assert.False(t, w1.returned(), "refused before MaxWait passed")

		time.Sleep(time.Nanosecond)
		synctest.Wait()
		require.True(t, w1.returned())
		assert.Equal(t, time.Second, time.Since(began))
		err := w1.result()
		require.ErrorIs(t, err, bulkhead.ErrFull)
		assert.ErrorIs(t, err, policy.ErrRejected)
		assert.Equal(t, "bulkhead_full", telemetry.ErrorType(err))
		var be *bulkhead.Error
		require.ErrorAs(t, err, &be)
		assert.Equal(t, "db", be.Policy)
		assert.Equal(t, time.Second, be.Waited)
		assert.Equal(t, "palisade/bulkhead: db: no slot freed within 1s", err.Error())
		assert.False(t, w1.ran())
		assert.Equal(t, 1, b.Queued(), "the expired waiter left the queue")
		assert.Equal(t, 1, b.InFlight(), "the expired waiter holds no slot")

		// w2 still waits its own full second, and gets the slot freed
		// within it.
		time.Sleep(200 * time.Millisecond)
		holder.finish()
		require.NoError(t, holder.result())
		synctest.Wait()
		require.True(t, w2.ran())
		w2.finish()
		require.NoError(t, w2.result())
		assert.Equal(t, 0, b.InFlight())
		assert.Equal(t, 0, b.Queued())
	})
}

func TestMaxWaitZeroWaitsUntilContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1})
		holder := start(t.Context(), b)
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		w := start(ctx, b)
		time.Sleep(59 * time.Minute)
		synctest.Wait()
		assert.False(t, w.returned())
		time.Sleep(time.Minute)
		synctest.Wait()
		require.True(t, w.returned())
		err := w.result()
		assertWaitEnded(t, context.DeadlineExceeded, err)
		assert.NotErrorIs(t, err, bulkhead.ErrFull)
		assert.Equal(t, 0, b.Queued())
		holder.finish()
		require.NoError(t, holder.result())
		assert.Equal(t, 0, b.InFlight())
	})
}

func TestCancelWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 3, MaxWait: time.Minute})
		holder := start(t.Context(), b)
		synctest.Wait()
		ctx1, cancel1 := context.WithCancel(t.Context())
		w1 := start(ctx1, b)
		ctx2, cancel2 := context.WithCancelCause(t.Context())
		w2 := start(ctx2, b)
		w3 := start(t.Context(), b)
		synctest.Wait()
		assert.Equal(t, 3, b.Queued())

		cancel1()
		cancel2(errors.New("client went away"))
		synctest.Wait()
		require.True(t, w1.returned())
		require.True(t, w2.returned())
		// The ctx's error (not its cause), as a rejection, not ErrFull.
		assertWaitEnded(t, context.Canceled, w1.result())
		assertWaitEnded(t, context.Canceled, w2.result())
		var e *bulkhead.Error
		require.ErrorAs(t, w2.result(), &e)
		assert.Equal(t, "bulkhead_wait_ended", telemetry.ErrorType(e))
		assert.Equal(t, "bulkhead", e.Policy)
		assert.False(t, w1.ran())
		assert.False(t, w2.ran())
		assert.Equal(t, 1, b.Queued(), "cancelled waiters left the queue")
		assert.Equal(t, 1, b.InFlight(), "cancelled waiters hold no slot")

		// The slot freed next goes to the waiter behind them.
		holder.finish()
		require.NoError(t, holder.result())
		synctest.Wait()
		require.True(t, w3.ran())
		w3.finish()
		require.NoError(t, w3.result())
		assert.Equal(t, 0, b.InFlight())
		assert.Equal(t, 0, b.Queued())
	})
}

func TestCancelMiddleWaiterKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 3})
		holder := start(t.Context(), b)
		synctest.Wait()
		w1 := start(t.Context(), b)
		synctest.Wait()
		ctx, cancel := context.WithCancel(t.Context())
		w2 := start(ctx, b)
		synctest.Wait()
		w3 := start(t.Context(), b)
		synctest.Wait()
		cancel()
		synctest.Wait()
		assertWaitEnded(t, context.Canceled, w2.result())

		prev := holder
		for _, w := range []*call{w1, w3} {
			prev.finish()
			require.NoError(t, prev.result())
			synctest.Wait()
			require.True(t, w.ran())
			prev = w
		}
		prev.finish()
		require.NoError(t, prev.result())
		assert.Equal(t, 0, b.InFlight())
		assert.Equal(t, 0, b.Queued())
	})
}

func TestEndedContextIsNotQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()

		// A free slot: the function runs, and decides what to do with
		// its ended context.
		ran := false
		require.NoError(t, b.Execute(ctx, func(context.Context) error { ran = true; return nil }))
		assert.True(t, ran)

		// No free slot: the call is not queued.
		holder := start(t.Context(), b)
		synctest.Wait()
		ran = false
		err := b.Execute(ctx, func(context.Context) error { ran = true; return nil })
		assertWaitEnded(t, context.Canceled, err)
		assert.False(t, ran)
		assert.Equal(t, 0, b.Queued())
		holder.finish()
		require.NoError(t, holder.result())
		assert.Equal(t, 0, b.InFlight())
	})
}

type panicValue struct{ n int }

func TestPanicFreesSlotAndRepanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1})
		want := &panicValue{42}
		entered := make(chan struct{})
		proceed := make(chan struct{})
		var got any
		go func() {
			defer func() { got = recover() }()
			_ = b.Execute(t.Context(), func(context.Context) error {
				close(entered)
				<-proceed
				panic(want)
			})
		}()
		<-entered
		w := start(t.Context(), b)
		synctest.Wait()
		assert.Equal(t, 1, b.Queued())

		close(proceed)
		synctest.Wait()
		assert.Same(t, want, got, "the panic goes on with the same value")
		require.True(t, w.ran(), "the panicking call's slot goes to the waiter")
		w.finish()
		require.NoError(t, w.result())
		assert.Equal(t, 0, b.InFlight())

		// Without waiters.
		assert.PanicsWithValue(t, want, func() {
			_ = b.Execute(t.Context(), func(context.Context) error { panic(want) })
		})
		assert.Equal(t, 0, b.InFlight())
		require.NoError(t, b.Execute(t.Context(), noop))
	})
}

func TestAcquire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Second})
		p, err := b.Acquire(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 1, b.InFlight())

		w := start(t.Context(), b)
		synctest.Wait()
		_, err = b.Acquire(t.Context())
		require.ErrorIs(t, err, bulkhead.ErrFull, "queue full")

		p.Release()
		synctest.Wait()
		require.True(t, w.ran())
		w.finish()
		require.NoError(t, w.result())
		assert.Equal(t, 0, b.InFlight())

		// The zero Permit, returned with an error, releases nothing.
		var zero bulkhead.Permit
		zero.Release()
		assert.Equal(t, 0, b.InFlight())
		p.Release() // released twice: does nothing
		assert.Equal(t, 0, b.InFlight())
	})
}

// Releasing a Permit twice frees its slot once: the second Release must
// not free a slot someone else holds.
func TestPermitDoubleReleaseFreesOneSlot(t *testing.T) {
	b := mustNew(t, bulkhead.Config{MaxConcurrent: 2})
	p, err := b.Acquire(t.Context())
	require.NoError(t, err)
	other, err := b.Acquire(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, b.InFlight())

	p.Release()
	p.Release()
	assert.Equal(t, 1, b.InFlight(), "the other permit's slot is still held")
	_, err = b.Acquire(t.Context())
	require.NoError(t, err, "one slot free")
	_, err = b.Acquire(t.Context())
	require.ErrorIs(t, err, bulkhead.ErrFull, "and only one")
	other.Release()
}

// A copy of a Permit released after the original frees a slot nobody holds:
// the bulkhead notices when no slot is held at all, and panics.
func TestReleasingACopyTwiceIsNoticed(t *testing.T) {
	b := mustNew(t, bulkhead.Config{MaxConcurrent: 1})
	p, err := b.Acquire(t.Context())
	require.NoError(t, err)
	copied := p
	p.Release()
	assert.Panics(t, func() { copied.Release() })
	assert.Equal(t, 0, b.InFlight())
}

func TestInPipeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, bulkhead.Config{MaxConcurrent: 1})
		p := policy.NewPipeline("p", timeout.Must(timeout.Config{Duration: time.Second, Telemetry: telemetry.Disabled()}), b).
			WithTelemetry(telemetry.Disabled())
		want := errors.New("boom")
		assert.Same(t, want, p.Execute(t.Context(), func(context.Context) error { return want })) //nolint:testifylint // the same value

		holder := start(t.Context(), b)
		synctest.Wait()
		err := p.Execute(t.Context(), noop)
		require.ErrorIs(t, err, bulkhead.ErrFull)
		assert.ErrorIs(t, err, policy.ErrRejected)
		holder.finish()
		require.NoError(t, holder.result())
	})
}

func TestErrFull(t *testing.T) {
	assert.ErrorIs(t, bulkhead.ErrFull, policy.ErrRejected)
	assert.Equal(t, "bulkhead_full", telemetry.ErrorType(bulkhead.ErrFull))
	assert.NotErrorIs(t, context.Canceled, bulkhead.ErrFull)
	e := &bulkhead.Error{Policy: "x"}
	assert.ErrorIs(t, e, bulkhead.ErrFull)
	assert.ErrorIs(t, e, policy.ErrRejected)
	assert.NotErrorIs(t, e, context.DeadlineExceeded)
}

// A Bulkhead holds no channel or timer between calls, so one built outside
// a synctest bubble (a package-level one, say) serves calls in any bubble.
func TestUsableAcrossBubbles(t *testing.T) {
	b := mustNew(t, bulkhead.Config{MaxConcurrent: 1, MaxQueue: 1, MaxWait: time.Second})
	for range 2 {
		synctest.Test(t, func(t *testing.T) {
			holder := start(t.Context(), b)
			synctest.Wait()
			w := start(t.Context(), b)
			synctest.Wait()
			assert.Equal(t, 1, b.Queued())
			holder.finish()
			synctest.Wait()
			require.True(t, w.ran())
			w.finish()
			require.NoError(t, holder.result())
			require.NoError(t, w.result())
			// and a MaxWait timer in this bubble
			holder = start(t.Context(), b)
			synctest.Wait()
			require.ErrorIs(t, b.Execute(t.Context(), noop), bulkhead.ErrFull)
			holder.finish()
			require.NoError(t, holder.result())
		})
	}
	assert.Equal(t, 0, b.InFlight())
}

func TestNilFuncPanicsNamingTheContract(t *testing.T) {
	b := mustNew(t, bulkhead.Config{MaxConcurrent: 1})
	assert.PanicsWithValue(t, "palisade/bulkhead: Execute called with a nil policy.Func", func() {
		_ = b.Execute(t.Context(), nil)
	})
	assert.Equal(t, 0, b.InFlight(), "no slot taken")
}
