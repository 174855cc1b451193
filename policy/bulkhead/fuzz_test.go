package bulkhead_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/telemetry"
)

// fuzzMaxLimit is the largest MaxConcurrent New accepts: the in-flight count
// has the low 32 bits of the gate's word, and all ones means "released more
// than held".
const fuzzMaxLimit = 1<<32 - 2

// fuzzMaxWait is the longest MaxWait FuzzConfig waits for: synctest's clock
// starts in 2000 and its monotonic readings end in 2262.
const fuzzMaxWait = 100 * 365 * 24 * time.Hour

// FuzzConfig checks New on any Config: it never panics, it refuses exactly
// the invalid ones with an error naming the field, and a valid one builds a
// Bulkhead that, when small enough to fill, runs MaxConcurrent calls at
// once, queues MaxQueue more, refuses the next with ErrFull, refuses the
// queued ones with ErrFull once MaxWait has passed (or hands them slots in
// turn, without MaxWait), and ends with no slot held and nobody queued.
func FuzzConfig(f *testing.F) {
	f.Add(0, 0, int64(0))
	f.Add(1, 0, int64(0))
	f.Add(2, 3, int64(0))
	f.Add(3, 2, int64(time.Second))
	f.Add(-1, 0, int64(0))
	f.Add(1, -1, int64(0))
	f.Add(1, 1, int64(-1))
	f.Add(fuzzMaxLimit, 0, int64(0))
	f.Add(fuzzMaxLimit+1, 0, int64(0))
	f.Add(math.MaxInt, math.MaxInt, int64(math.MaxInt64))
	f.Add(math.MinInt, math.MinInt, int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, maxConcurrent, maxQueue int, maxWait int64) {
		cfg := bulkhead.Config{
			MaxConcurrent: maxConcurrent,
			MaxQueue:      maxQueue,
			MaxWait:       time.Duration(maxWait),
			Telemetry:     telemetry.Disabled(),
		}
		var invalid []string
		if maxConcurrent < 0 || int64(maxConcurrent) > fuzzMaxLimit {
			invalid = append(invalid, "Config.MaxConcurrent")
		}
		if maxQueue < 0 {
			invalid = append(invalid, "Config.MaxQueue")
		}
		if maxWait < 0 {
			invalid = append(invalid, "Config.MaxWait")
		}
		b, err := bulkhead.New(cfg)
		if len(invalid) > 0 {
			if err == nil || b != nil {
				t.Fatalf("invalid %v accepted", invalid)
			}
			for _, field := range invalid {
				if strings.Contains(err.Error(), field) {
					return
				}
			}
			t.Fatalf("error %q names none of the invalid fields %v", err, invalid)
		}
		if err != nil {
			t.Fatalf("valid config refused: %v", err)
		}
		limit := maxConcurrent
		if limit == 0 {
			limit = bulkhead.DefaultMaxConcurrent
		}
		if b.MaxConcurrent() != limit || b.Name() != "bulkhead" {
			t.Fatalf("MaxConcurrent() = %d, Name() = %q; want %d, bulkhead", b.MaxConcurrent(), b.Name(), limit)
		}
		if err := b.Execute(context.Background(), func(context.Context) error {
			if b.InFlight() != 1 {
				t.Errorf("InFlight() = %d inside the only call", b.InFlight())
			}
			return nil
		}); err != nil {
			t.Fatalf("lone call: %v", err)
		}
		if b.InFlight() != 0 || b.Queued() != 0 {
			t.Fatalf("after the lone call: InFlight %d, Queued %d", b.InFlight(), b.Queued())
		}
		if limit > 16 || maxQueue > 16 {
			return // too large to fill
		}
		synctest.Test(t, func(t *testing.T) { fuzzFill(t, cfg, limit) })
	})
}

// fuzzFill fills a bulkhead built from cfg, whose limit is small, and its
// queue, and drains them.
func fuzzFill(t *testing.T, cfg bulkhead.Config, limit int) {
	b := bulkhead.Must(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	holders := make([]*call, limit)
	for i := range holders {
		holders[i] = start(ctx, b)
	}
	synctest.Wait()
	if b.InFlight() != limit || b.Queued() != 0 {
		t.Fatalf("%d holders: InFlight %d, Queued %d", limit, b.InFlight(), b.Queued())
	}

	var ran atomic.Int32
	type result struct{ err error }
	waiters := make([]chan result, cfg.MaxQueue)
	for i := range waiters {
		waiters[i] = make(chan result, 1)
		go func() {
			err := b.Execute(ctx, func(context.Context) error { ran.Add(1); return nil })
			waiters[i] <- result{err}
		}()
		synctest.Wait() // queue in order
	}
	if b.Queued() != cfg.MaxQueue {
		t.Fatalf("%d waiters: Queued %d", cfg.MaxQueue, b.Queued())
	}

	err := b.Execute(ctx, noop)
	var be *bulkhead.Error
	if !errors.As(err, &be) || be.Waited != 0 || !errors.Is(err, bulkhead.ErrFull) || !errors.Is(err, policy.ErrRejected) {
		t.Fatalf("call beyond the queue got %v", err)
	}

	switch {
	case cfg.MaxWait > 0 && cfg.MaxWait <= fuzzMaxWait && cfg.MaxQueue > 0:
		before := time.Now()
		time.Sleep(cfg.MaxWait)
		synctest.Wait()
		for i, w := range waiters {
			select {
			case r := <-w:
				if !errors.As(r.err, &be) || be.Waited != cfg.MaxWait || !errors.Is(r.err, bulkhead.ErrFull) {
					t.Fatalf("waiter %d, after MaxWait: %v", i, r.err)
				}
			default:
				t.Fatalf("waiter %d still waiting %v after it queued, MaxWait %v", i, time.Since(before), cfg.MaxWait)
			}
		}
		if ran.Load() != 0 {
			t.Fatalf("%d waiters ran without a slot", ran.Load())
		}
	case cfg.MaxWait == 0 && cfg.MaxQueue > 0:
		// The first slot freed passes from waiter to waiter.
		holders[0].finish()
		holders = holders[1:]
		for i, w := range waiters {
			if r := <-w; r.err != nil {
				t.Fatalf("waiter %d: %v", i, r.err)
			}
		}
		if int(ran.Load()) != cfg.MaxQueue {
			t.Fatalf("%d of %d waiters ran", ran.Load(), cfg.MaxQueue)
		}
	default:
		cancel()
		for i, w := range waiters {
			if r := <-w; !errors.Is(r.err, context.Canceled) {
				t.Fatalf("waiter %d, cancelled: %v", i, r.err)
			}
		}
	}
	for _, h := range holders {
		h.finish()
		if err := h.result(); err != nil {
			t.Fatalf("holder: %v", err)
		}
	}
	if b.InFlight() != 0 || b.Queued() != 0 {
		t.Fatalf("drained: InFlight %d, Queued %d", b.InFlight(), b.Queued())
	}
}
