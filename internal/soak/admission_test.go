package soak_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/limiter"
	"github.com/palisade-go/palisade/policy/ratelimit"
	"github.com/palisade-go/palisade/policy/throttle"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// TestSoakAdmission runs the faulty server's weather (outages, 500s,
// resets, slow answers) through the admission policies — rate limiter
// (waiting) → adaptive limiter (queueing) → throttle → timeout — from 64
// callers, for half the soak duration, and checks that every error is
// exactly one thing, that the rejection counters agree with what the
// callers saw, that nothing is held at the end, and that goroutines and
// memory come back.
func TestSoakAdmission(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: skipped under -short")
	}
	duration := soakDuration(t) / 2
	goroutinesBefore := runtime.NumGoroutine()

	srv := &faultyServer{start: time.Now()}
	server := httptest.NewServer(srv)
	transport := &http.Transport{MaxIdleConnsPerHost: callers}
	client := &http.Client{Transport: transport}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tel := telemetry.New(telemetry.WithMeterProvider(mp))

	lim := limiter.Must(limiter.Config{InitialLimit: 16, MaxLimit: 48, MaxQueue: 16, MaxWait: 20 * time.Millisecond,
		SampleWindow: 50 * time.Millisecond, Telemetry: tel})
	pipeline := policy.NewPipeline("soak-admission",
		ratelimit.Must(ratelimit.Config{Rate: 2000, Burst: 20, MaxWait: 5 * time.Millisecond, Telemetry: tel}),
		lim,
		throttle.Must(throttle.Config{Window: time.Second, Telemetry: tel}),
		timeout.Must(timeout.Config{Duration: callTimeout, Telemetry: tel}),
	).WithTelemetry(tel)

	call := callServer(client, http.MethodPost, server.URL)

	var throttled, limited, concurrency, ok, other atomic.Int64
	var mu sync.Mutex
	var bad []error
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				err := pipeline.Execute(context.Background(), call)
				th, rl, cl := errors.Is(err, throttle.ErrThrottled), errors.Is(err, ratelimit.ErrLimited), errors.Is(err, limiter.ErrLimited)
				n := 0
				for _, b := range []bool{th, rl, cl} {
					if b {
						n++
					}
				}
				if n > 1 || errors.Is(err, policy.ErrRejected) != (n == 1) {
					mu.Lock()
					bad = append(bad, err)
					mu.Unlock()
					continue
				}
				switch {
				case err == nil:
					ok.Add(1)
				case th:
					throttled.Add(1)
				case rl:
					limited.Add(1)
				case cl:
					concurrency.Add(1)
				default:
					other.Add(1)
				}
				if n == 1 {
					time.Sleep(rand.N(backPressure))
				}
			}
		})
	}
	wg.Wait()
	for i, err := range bad {
		if i == 10 {
			break
		}
		t.Errorf("ambiguous error: %v", err)
	}
	t.Logf("%v: %d ok, %d other errors; rejected: %d throttled, %d rate limited, %d concurrency limited; final limit %d",
		duration, ok.Load(), other.Load(), throttled.Load(), limited.Load(), concurrency.Load(), lim.Limit())
	if ok.Load() == 0 || throttled.Load() == 0 || limited.Load() == 0 {
		t.Errorf("the load did not exercise the policies")
	}
	if lim.InFlight() != 0 || lim.Queued() != 0 {
		t.Errorf("limiter: InFlight %d, Queued %d at the end", lim.InFlight(), lim.Queued())
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	rejected := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "palisade.rejected_calls" {
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					v, _ := dp.Attributes.Value(attribute.Key("palisade.policy.type"))
					rejected[v.AsString()] += dp.Value
				}
			}
		}
	}
	for typ, want := range map[string]int64{"throttle": throttled.Load(), "ratelimit": limited.Load(), "limiter": concurrency.Load()} {
		if rejected[typ] != want {
			t.Errorf("palisade.rejected_calls{palisade.policy.type=%s} = %d, the callers saw %d", typ, rejected[typ], want)
		}
	}

	transport.CloseIdleConnections()
	server.Close()
	if err := mp.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	goroutinesAfter := runtime.NumGoroutine()
	for wait := time.Now().Add(10 * time.Second); goroutinesAfter > goroutinesBefore && time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond)
		goroutinesAfter = runtime.NumGoroutine()
	}
	if goroutinesAfter > goroutinesBefore {
		t.Errorf("%d goroutines at the end, %d at the start", goroutinesAfter, goroutinesBefore)
	}
	goleak.VerifyNone(t)
}
