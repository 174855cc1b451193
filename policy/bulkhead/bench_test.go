package bulkhead_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/telemetry"
)

func BenchmarkExecute(b *testing.B) {
	for _, bc := range []struct {
		name string
		tel  *telemetry.Telemetry
	}{
		{"telemetry=disabled", telemetry.Disabled()},
		{"telemetry=default", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 10, Telemetry: bc.tel})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := bh.Execute(ctx, noop); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 10, Telemetry: telemetry.Disabled()})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, err := bh.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.Release()
	}
}

// BenchmarkRejected measures refusing a call when the bulkhead (without
// queue) is full.
func BenchmarkRejected(b *testing.B) {
	for _, bc := range []struct {
		name string
		tel  *telemetry.Telemetry
	}{
		{"telemetry=disabled", telemetry.Disabled()},
		{"telemetry=default", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bh := bulkhead.Must(bulkhead.Config{MaxConcurrent: 1, Telemetry: bc.tel})
			ctx := context.Background()
			p, err := bh.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Release()
			b.ReportAllocs()
			for b.Loop() {
				if err := bh.Execute(ctx, noop); err == nil {
					b.Fatal("not rejected")
				}
			}
		})
	}
}

// BenchmarkExecuteParallel runs calls from many goroutines at the limit:
// as many goroutines as slots (every call finds a slot, contending for
// the counter), four times as many with a queue large enough that none is
// refused (calls wait their turn), and four times as many without queue
// (calls beyond the limit are refused).
func BenchmarkExecuteParallel(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	for _, bc := range []struct {
		name        string
		parallelism int
		cfg         bulkhead.Config
	}{
		{"goroutines=slots", 1, bulkhead.Config{MaxConcurrent: procs}},
		{"goroutines=4×slots/queue", 4, bulkhead.Config{MaxConcurrent: procs, MaxQueue: 3 * procs}},
		{"goroutines=4×slots/reject", 4, bulkhead.Config{MaxConcurrent: procs}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.cfg.Telemetry = telemetry.Disabled()
			bh := bulkhead.Must(bc.cfg)
			ctx := context.Background()
			b.SetParallelism(bc.parallelism)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = bh.Execute(ctx, noop)
				}
			})
			if bh.InFlight() != 0 || bh.Queued() != 0 {
				b.Fatalf("InFlight %d, Queued %d after the run", bh.InFlight(), bh.Queued())
			}
		})
	}
}
