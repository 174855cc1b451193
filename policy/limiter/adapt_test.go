package limiter_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/policy/limiter"
	"github.com/palisade-go/palisade/telemetry"
)

// server is a dependency with a fixed number of workers, each serving one
// call at a time in service; calls beyond the workers queue (first come,
// first served), so that latency grows with the queue.
type server struct {
	mu      sync.Mutex
	workers chan struct{}
	service time.Duration
}

func newServer(workers int, service time.Duration) *server {
	return &server{workers: make(chan struct{}, workers), service: service}
}

func (s *server) call(ctx context.Context) error {
	select {
	case s.workers <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.workers }()
	s.mu.Lock()
	d := s.service
	s.mu.Unlock()
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setWorkers changes the capacity: a new pool of n workers for calls
// arriving from now on.
func (s *server) setWorkers(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.workers = make(chan struct{}, n)
}

func (s *server) pool() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.workers
}

type outcome struct {
	at, latency time.Duration
	ok          bool
}

// drive sends calls through l to srv at rate per second, evenly spaced,
// for d, each with a deadline of a second, and returns the outcomes
// (latency measured by the caller, waits included). Every second it
// records the limit.
func drive(t *testing.T, l *limiter.Limiter, srv *server, rate float64, d time.Duration, during func(time.Duration)) (outs []outcome, limits []int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	gap := time.Duration(float64(time.Second) / rate)
	next := time.Second
	for at := time.Duration(0); at < d; at += gap {
		time.Sleep(time.Until(start.Add(at)))
		if at >= next {
			limits = append(limits, l.Limit())
			next += time.Second
		}
		if during != nil {
			during(at)
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			begin := time.Now()
			err := l.Execute(ctx, func(ctx context.Context) error {
				workers := srv.pool()
				select {
				case workers <- struct{}{}:
				case <-ctx.Done():
					return ctx.Err()
				}
				defer func() { <-workers }()
				select {
				case <-time.After(srv.service):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			mu.Lock()
			outs = append(outs, outcome{at: time.Since(start), latency: time.Since(begin), ok: err == nil})
			mu.Unlock()
		})
	}
	wg.Wait()
	return outs, limits
}

// stats gives the goodput (per second) and p99 latency of the successful
// calls that ended in [from, to).
func stats(outs []outcome, from, to time.Duration) (goodput float64, p99 time.Duration) {
	var lat []time.Duration
	for _, o := range outs {
		if o.ok && o.at >= from && o.at < to {
			lat = append(lat, o.latency)
		}
	}
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return float64(len(lat)) / (to - from).Seconds(), lat[len(lat)*99/100]
}

// TestOverload drives a server of 8 workers × 5 ms (1,600 calls/s) at 3×
// its capacity through each algorithm: once settled, the server must stay
// busy (goodput near capacity) while latency stays near its unloaded 5 ms,
// where an unprotected client would queue until its deadline. AIMD, which
// reads no latency gradient, is given a MaxHealthyLatency of 10 ms.
func TestOverload(t *testing.T) {
	for _, alg := range []limiter.Algorithm{limiter.Vegas, limiter.Gradient2, limiter.AIMD} {
		t.Run(alg.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := newServer(8, 5*time.Millisecond)
				cfg := limiter.Config{Algorithm: alg, Telemetry: telemetry.Disabled()}
				if alg == limiter.AIMD {
					cfg.MaxHealthyLatency = 10 * time.Millisecond
				}
				l := limiter.Must(cfg)
				outs, limits := drive(t, l, srv, 4800, 8*time.Second, nil)
				goodput, p99 := stats(outs, 3*time.Second, 8*time.Second)
				t.Logf("%v: goodput %.0f/s, p99 %v, limits %v", alg, goodput, p99, limits)
				if goodput < 0.98*1600 {
					t.Errorf("goodput %.0f/s, want >= 98%% of 1,600/s", goodput)
				}
				// Vegas keeps a queue of alpha..beta calls (3..6 here) at
				// the dependency, Gradient2 up to Tolerance (1.5×) + 4,
				// AIMD up to MaxHealthyLatency before it backs off.
				maxP99 := map[limiter.Algorithm]time.Duration{
					limiter.Vegas:     10 * time.Millisecond,
					limiter.Gradient2: 11 * time.Millisecond,
					limiter.AIMD:      15 * time.Millisecond,
				}[alg]
				if p99 > maxP99 {
					t.Errorf("p99 %v, want <= %v (unloaded: 5ms)", p99, maxP99)
				}
			})
		})
	}
}

// TestCapacityHalves: at 1,200 calls/s, the server's workers drop from 8 to
// 4 (1,600/s to 800/s) at 4s: within 2s the limit has followed, and latency
// is back near the unloaded level.
func TestCapacityHalves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(8, 5*time.Millisecond)
		l := limiter.Must(limiter.Config{Telemetry: telemetry.Disabled()})
		halved := false
		outs, limits := drive(t, l, srv, 1200, 10*time.Second, func(at time.Duration) {
			if at >= 4*time.Second && !halved {
				srv.setWorkers(4)
				halved = true
			}
		})
		before, p99Before := stats(outs, 2*time.Second, 4*time.Second)
		after, p99After := stats(outs, 6*time.Second, 10*time.Second)
		t.Logf("before: %.0f/s p99 %v; after: %.0f/s p99 %v; limits %v", before, p99Before, after, p99After, limits)
		if after < 0.95*800 {
			t.Errorf("goodput after the halving %.0f/s, want >= 95%% of 800/s", after)
		}
		// Vegas settles with at most as many calls queued as the 4
		// workers serve (its band capped for a small dependency): 8 in
		// flight, 10 ms.
		if p99After > 10*time.Millisecond {
			t.Errorf("p99 2s after the halving %v, want <= 10ms (unloaded: 5ms)", p99After)
		}
		if limits[len(limits)-1] >= limits[2] {
			t.Errorf("limit did not come down: %v", limits)
		}
	})
}
