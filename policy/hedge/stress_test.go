package hedge_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/hedge"
	"github.com/palisade-go/palisade/telemetry"
)

// The first attempt runs on the caller's goroutine: a function that
// ignores its context holds the call until it returns, even when a hedge
// won (the policy.Func contract asks functions to honour their context).
func TestWinningHedgeWaitsForTheFirstAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		err := fixed(10*time.Millisecond, telemetry.Disabled()).Execute(context.Background(), func(ctx context.Context) error {
			if hedge.Attempt(ctx) == 1 {
				time.Sleep(100 * time.Millisecond) // deaf to ErrLost
				return errors.New("late")
			}
			return nil
		})
		require.NoError(t, err, "the hedge's success, not the late failure")
		assert.Equal(t, 100*time.Millisecond, time.Since(start))
	})
}

// Every attempt's spans nest under the span in the caller's context: the
// pipeline's.
func TestAttemptSpansNestUnderThePipelineSpan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		p := policy.NewPipeline("users", fixed(10*time.Millisecond, h.Telemetry)).WithTelemetry(h.Telemetry)
		tracer := h.TracerProvider.Tracer("client")
		err := p.Execute(context.Background(), func(ctx context.Context) error {
			_, span := tracer.Start(ctx, "GET /users", trace.WithSpanKind(trace.SpanKindClient))
			defer span.End()
			if hedge.Attempt(ctx) == 1 {
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		})
		require.NoError(t, err)
		synctest.Wait()
		var pipeline trace.SpanContext
		var clients []trace.SpanContext
		for _, s := range h.Spans.Ended() {
			if s.Name() == "users" {
				pipeline = s.SpanContext()
				require.Len(t, s.Events(), 1, "one palisade.hedge event")
			} else {
				clients = append(clients, s.Parent())
			}
		}
		require.Len(t, clients, 2)
		for _, parent := range clients {
			assert.Equal(t, pipeline.SpanID(), parent.SpanID())
		}
	})
}

// Many calls at once on the real clock, under -race: each returns its own
// first success, and once the losers have ended no goroutine is left.
func TestStressConcurrentCalls(t *testing.T) {
	h := hedge.Must(hedge.Config{Delay: 500 * time.Microsecond, MaxHedges: 2, MaxExtraRatio: 2, Telemetry: telemetry.Disabled()})
	p := policy.NewPipeline("stress", h).WithTelemetry(telemetry.Disabled())
	var running atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 100 {
				want := g*1000 + i
				got, err := policy.Get(context.Background(), p, func(ctx context.Context) (int, error) {
					running.Add(1)
					defer running.Add(-1)
					d := time.Duration(rand.IntN(1500)) * time.Microsecond
					select {
					case <-time.After(d):
						return want, nil
					case <-ctx.Done():
						return -1, ctx.Err()
					}
				})
				if err != nil || got != want {
					t.Errorf("call %d got %d, %v", want, got, err)
				}
			}
		})
	}
	wg.Wait()
	assert.Eventually(t, func() bool { return running.Load() == 0 }, 10*time.Second, time.Millisecond)
	goleak.VerifyNone(t)
}
