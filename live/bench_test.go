package live

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/telemetry"
)

// BenchmarkCallsWhileWatched measures calls through a breaker and a
// bulkhead while 0 or 100 pages watch the live view (with 20 more
// breakers on it, sampled every 250ms): viewers cost the policies nothing
// but the sampler's reads and a share of the CPU.
func BenchmarkCallsWhileWatched(b *testing.B) {
	others := make([]*breaker.Breaker, 20)
	for i := range others {
		others[i] = newBreaker(b, fmt.Sprintf("bench-other-%d", i), time.Second)
	}
	p := policy.NewPipeline("bench-watched",
		breaker.Must(breaker.Config{Name: "bench-watched", Telemetry: telemetry.Disabled()}),
		bulkhead.Must(bulkhead.Config{Name: "bench-watched", Telemetry: telemetry.Disabled()}),
	).WithTelemetry(telemetry.Disabled())
	ctx := context.Background()
	for _, tc := range []struct {
		viewers  int
		parallel bool
	}{{0, false}, {100, false}, {0, true}, {100, true}} {
		viewers := tc.viewers
		name := fmt.Sprintf("viewers=%d", viewers)
		if tc.parallel {
			name += "/parallel"
		}
		b.Run(name, func(b *testing.B) {
			h := Must(Config{})
			srv := httptest.NewServer(h)
			var frames atomic.Int64
			var wg sync.WaitGroup
			streams := make([]*stream, viewers)
			for i := range streams {
				streams[i] = openStream(b, srv.URL)
				s := streams[i]
				wg.Go(func() {
					buf := make([]byte, 32<<10)
					for {
						n, err := s.r.Read(buf)
						if n > 0 {
							frames.Add(1)
						}
						if err != nil {
							return
						}
					}
				})
			}
			waitFor(b, "every viewer connected", func() bool { n, _ := h.viewers(); return n == viewers })

			b.ReportAllocs()
			start := time.Now()
			if tc.parallel {
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						p.Execute(ctx, ok)
					}
				})
			} else {
				for b.Loop() {
					p.Execute(ctx, ok)
				}
			}
			b.StopTimer()
			if viewers > 0 {
				b.ReportMetric(float64(frames.Load())/float64(viewers)/time.Since(start).Seconds(), "reads/viewer/s")
			}
			h.Close()
			for _, s := range streams {
				s.cancel()
			}
			wg.Wait()
			for _, s := range streams {
				io.Copy(io.Discard, s.resp.Body)
				s.resp.Body.Close()
			}
			srv.Close()
		})
	}
	for _, o := range others {
		_ = o.Name()
	}
}
