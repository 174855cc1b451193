package timeout_test

import (
	"context"
	"testing"
	"time"

	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// BenchmarkTimeout measures a call that returns at once: cooperative (a
// context with a deadline) and abandoning (a goroutine and a channel too).
func BenchmarkTimeout(b *testing.B) {
	ctx := context.Background()
	nop := func(context.Context) error { return nil }
	for _, abandon := range []bool{false, true} {
		name := "cooperative"
		if abandon {
			name = "abandon"
		}
		to := timeout.Must(timeout.Config{Duration: time.Second, Abandon: abandon, Telemetry: telemetry.Disabled()})
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = to.Execute(ctx, nop)
			}
		})
	}
}
