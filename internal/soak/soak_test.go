package soak_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The load and the faults.
const (
	callers = 64

	callTimeout  = 80 * time.Millisecond  // the timeout policy's
	slowResponse = 200 * time.Millisecond // a "slow" response: always too slow
	cycle        = 3 * time.Second        // the server's weather repeats
	outageFor    = 400 * time.Millisecond // at its start, every request fails (503)
	degradedFor  = 600 * time.Millisecond // then 30% more fail (500)
	backPressure = 10 * time.Millisecond  // a refused caller waits up to this before calling again

	heapGrowthBound = 64 << 20  // after GC, at the end, over the start
	heapPeakBound   = 512 << 20 // at any sample
)

// soakDuration is how long the callers call: PALISADE_SOAK_DURATION if set,
// else 45s under CI=true and 10s otherwise.
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("PALISADE_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("PALISADE_SOAK_DURATION=%q: want a positive duration such as 30s", v)
		}
		return d
	}
	if os.Getenv("CI") == "true" {
		return 45 * time.Second
	}
	return 10 * time.Second
}

// statusError is the error of a call answered with a status of 400 or
// more.
type statusError struct{ code int }

func (e *statusError) Error() string     { return "HTTP " + strconv.Itoa(e.code) }
func (e *statusError) ErrorType() string { return strconv.Itoa(e.code) }

// callServer returns the function of a soak's calls: one request of method
// to url through client, its body read to the end; an error for a failed
// round trip or body, a *statusError for a status of 400 or more.
func callServer(client *http.Client, method, url string) policy.Func {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode >= 400 {
			return &statusError{resp.StatusCode}
		}
		return nil
	}
}

// A call ends in exactly one of these outcomes.
type outcome int

const (
	success          outcome = iota
	serviceError             // a 4xx: the service said no, not worth retrying
	rejectedBreaker          // breaker.ErrOpen
	rejectedBulkhead         // bulkhead.ErrFull
	rejectedRetry            // retry.ErrBudgetExhausted
	timedOut                 // timeout.ErrTimeout
	exhausted                // retry.ErrExhausted: 5xx and resets, three times
	outcomes
)

var outcomeNames = [outcomes]string{
	"success", "service error (4xx)", "rejected by the breaker", "rejected by the bulkhead",
	"rejected by the retry budget", "timeout", "retries exhausted",
}

// errorTypes are the error.type each outcome's pipeline.duration point has.
var errorTypes = [outcomes]string{"", "400", "circuit_open", "bulkhead_full", "retry_budget_exhausted", "timeout", "retry_exhausted"}

// classify tells a call's outcome from its error, and fails if the error
// matches more than one rejection, or matches policy.ErrRejected without
// being a rejection (or the reverse).
func classify(err error) (outcome, error) {
	if err == nil {
		return success, nil
	}
	open, full, budget := errors.Is(err, breaker.ErrOpen), errors.Is(err, bulkhead.ErrFull), errors.Is(err, retry.ErrBudgetExhausted)
	n := 0
	for _, b := range []bool{open, full, budget} {
		if b {
			n++
		}
	}
	if n == 0 && errors.Is(err, policy.ErrRejected) && errors.Is(err, timeout.ErrTimeout) {
		// The attempt's deadline passed while it waited for a bulkhead
		// slot: a timeout (error.type "timeout") that never reached the
		// dependency, so it also matches policy.ErrRejected.
		return timedOut, nil
	}
	if n > 1 || errors.Is(err, policy.ErrRejected) != (n == 1) {
		return 0, fmt.Errorf("ambiguous: %v (ErrOpen %v, ErrFull %v, ErrBudgetExhausted %v, ErrRejected %v)",
			err, open, full, budget, errors.Is(err, policy.ErrRejected))
	}
	switch {
	case budget:
		return rejectedRetry, nil
	case open:
		return rejectedBreaker, nil
	case full:
		return rejectedBulkhead, nil
	case errors.Is(err, retry.ErrExhausted):
		if errors.Is(err, timeout.ErrTimeout) {
			return 0, fmt.Errorf("exhausted on a timeout, which is not retried: %v", err)
		}
		return exhausted, nil
	case errors.Is(err, timeout.ErrTimeout):
		return timedOut, nil
	}
	if se := (*statusError)(nil); errors.As(err, &se) && se.code < 500 {
		return serviceError, nil
	}
	return 0, fmt.Errorf("unclassified error %v (%T)", err, err)
}

// shouldRetry retries 5xx and connection errors; not rejections (the
// policies said no), timeouts (the dependency is slow: retrying adds load)
// or 4xx.
func shouldRetry(err error) bool {
	if errors.Is(err, policy.ErrRejected) || errors.Is(err, timeout.ErrTimeout) {
		return false
	}
	se := (*statusError)(nil)
	return !errors.As(err, &se) || se.code >= 500
}

// isFailure counts as a breaker failure everything but 4xx, the caller's
// cancellation, and the rejections of the bulkhead inside the breaker: a
// call the bulkhead refused never reached the dependency. (With the default,
// every caller beyond the bulkhead's queue counts as a failure of the
// server, and the breaker, closing, reopens at once under load.)
func isFailure(err error) bool {
	se := (*statusError)(nil)
	if errors.As(err, &se) && se.code < 500 {
		return false
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, policy.ErrRejected)
}

// faultyServer answers most requests at once, and fails the others in
// every way a dependency can: 500s, 400s, responses slower than any
// caller waits, a little latency, and connections reset mid-request. Its
// weather changes in cycles: an outage (every request a 503), then a
// degraded spell (30% more 500s), then normal service.
type faultyServer struct {
	start  time.Time
	served [6]atomic.Int64 // ok, 500, 400, slow, reset, outage
}

func (s *faultyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	phase := time.Since(s.start) % cycle
	if phase < outageFor {
		s.served[5].Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	n := rand.IntN(100)
	if phase < outageFor+degradedFor && n < 30 {
		n = 88 // a 500
	}
	switch {
	case n < 87:
		if n >= 80 { // a little latency
			time.Sleep(time.Duration(2+n-80) * time.Millisecond)
		}
		s.served[0].Add(1)
		_, _ = io.WriteString(w, "ok")
	case n < 91:
		s.served[1].Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	case n < 94:
		s.served[2].Add(1)
		w.WriteHeader(http.StatusBadRequest)
	case n < 97:
		s.served[3].Add(1)
		select {
		case <-time.After(slowResponse):
			_, _ = io.WriteString(w, "late")
		case <-r.Context().Done():
		}
	default: // reset the connection: hijack it, and close it with RST
		s.served[4].Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	}
}

// probe sits between retry and breaker and counts what the test needs to
// check the counters: the attempts, and the attempts that timed out.
type probe struct {
	attempts, timeouts atomic.Int64
}

func (p *probe) Execute(ctx context.Context, fn policy.Func) error {
	p.attempts.Add(1)
	err := fn(ctx)
	if errors.Is(err, timeout.ErrTimeout) {
		p.timeouts.Add(1)
	}
	return err
}

func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: skipped under -short")
	}
	duration := soakDuration(t)
	goroutinesBefore := runtime.NumGoroutine()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapAlloc

	srv := &faultyServer{start: time.Now()}
	server := httptest.NewServer(srv)
	u, err := url.Parse(server.URL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("server at %q, want loopback 127.0.0.1 only (%v)", server.URL, err)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: callers}
	client := &http.Client{Transport: transport}

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tp := sdktrace.NewTracerProvider() // spans record, with their events, and are dropped
	tel := telemetry.New(telemetry.WithMeterProvider(mp), telemetry.WithTracerProvider(tp))

	var onRetry, opened atomic.Int64
	pr := &probe{}
	pipeline := policy.NewPipeline("soak",
		retry.Must(retry.Config{
			MaxAttempts: 3,
			BackOff: func() backoff.BackOff {
				return &backoff.ExponentialBackOff{
					InitialInterval: 5 * time.Millisecond, Multiplier: 2, RandomizationFactor: 0.5,
					MaxInterval: 50 * time.Millisecond, Stop: backoff.Stop, Clock: backoff.SystemClock,
				}
			},
			ShouldRetry: shouldRetry,
			OnRetry:     func(int, error, time.Duration) { onRetry.Add(1) },
			Budget:      budget.Must(budget.Config{Ratio: 0.2, MinExtra: 20, Window: time.Second}),
			Telemetry:   tel,
		}),
		pr,
		breaker.Must(breaker.Config{
			WindowSize:        100,
			MinimumThroughput: 20,
			BreakDuration:     250 * time.Millisecond,
			SuccessThreshold:  3,
			IsFailure:         isFailure,
			OnStateChange: func(_, to breaker.State) {
				if to == breaker.Open {
					opened.Add(1)
				}
			},
			Telemetry: tel,
		}),
		timeout.Must(timeout.Config{Duration: callTimeout, Telemetry: tel}),
		bulkhead.Must(bulkhead.Config{MaxConcurrent: 24, MaxQueue: 24, MaxWait: 25 * time.Millisecond, Telemetry: tel}),
	).WithTelemetry(tel)

	call := callServer(client, http.MethodPost, server.URL) // POST: never replayed by the transport

	// Heap samples, while the callers call.
	var heapPeak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > heapPeak.Load() {
					heapPeak.Store(ms.HeapAlloc)
				}
			}
		}
	}()

	start := time.Now()
	deadline := start.Add(duration)
	var (
		mu     sync.Mutex
		tally  [outcomes]int64
		failed []error
		wg     sync.WaitGroup
	)
	for range callers {
		wg.Go(func() {
			var mine [outcomes]int64
			var bad []error
			for time.Now().Before(deadline) {
				o, err := classify(pipeline.Execute(context.Background(), call))
				if err != nil {
					bad = append(bad, err)
					continue
				}
				mine[o]++
				if o == rejectedBreaker || o == rejectedBulkhead || o == rejectedRetry {
					time.Sleep(rand.N(backPressure)) // as a client under back-pressure does
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for o := range mine {
				tally[o] += mine[o]
			}
			failed = append(failed, bad...)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	<-sampled

	for i, err := range failed {
		if i == 10 {
			t.Errorf("… and %d more", len(failed)-10)
			break
		}
		t.Error(err)
	}
	var calls int64
	for _, n := range tally {
		calls += n
	}
	t.Logf("%d callers, %v: %d calls (%.0f/s), %d attempts; breaker opened %d times", callers, elapsed.Round(time.Millisecond),
		calls, float64(calls)/elapsed.Seconds(), pr.attempts.Load(), opened.Load())
	for o, n := range tally {
		t.Logf("  %-30s %7d  %5.1f%%", outcomeNames[o], n, 100*float64(n)/float64(max(calls, 1)))
	}
	t.Logf("server: %d ok, %d 500, %d 400, %d slow, %d reset, %d outage 503", srv.served[0].Load(), srv.served[1].Load(),
		srv.served[2].Load(), srv.served[3].Load(), srv.served[4].Load(), srv.served[5].Load())

	// The counters agree with the tally.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	rejected := map[string]int64{}
	var retries, timeouts int64
	durations := map[string]uint64{}
	var durationCount uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "palisade.rejected_calls":
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					v, _ := dp.Attributes.Value(attribute.Key("palisade.policy.type"))
					rejected[v.AsString()] += dp.Value
				}
			case "palisade.retry.retries":
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					retries += dp.Value
				}
			case "palisade.timeout.timeouts":
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					timeouts += dp.Value
				}
			case "palisade.pipeline.duration":
				for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
					v, _ := dp.Attributes.Value(attribute.Key("error.type"))
					durations[v.AsString()] += dp.Count
					durationCount += dp.Count
				}
			}
		}
	}
	t.Logf("counters: rejected_calls %v, retry.retries %d, timeout.timeouts %d, pipeline.duration count %d",
		rejected, retries, timeouts, durationCount)
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"palisade.rejected_calls{palisade.policy.type=breaker}", rejected["breaker"], tally[rejectedBreaker]},
		{"palisade.rejected_calls{palisade.policy.type=bulkhead}", rejected["bulkhead"], tally[rejectedBulkhead]},
		{"palisade.rejected_calls{palisade.policy.type=retry}", rejected["retry"], tally[rejectedRetry]},
		{"palisade.retry.retries (attempts after the first)", retries, pr.attempts.Load() - calls - int64(len(failed))},
		{"palisade.retry.retries (OnRetry calls)", retries, onRetry.Load()},
		{"palisade.timeout.timeouts (attempts that timed out)", timeouts, pr.timeouts.Load()},
		{"palisade.pipeline.duration count (calls)", int64(durationCount), calls + int64(len(failed))},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, the test counted %d", c.name, c.got, c.want)
		}
	}
	for o, n := range tally {
		if got := int64(durations[errorTypes[o]]); got != n {
			t.Errorf("palisade.pipeline.duration{error.type=%q} count = %d, the test counted %d %s", errorTypes[o], got, n, outcomeNames[o])
		}
	}
	// The weather guarantees these (an outage starts the run, 3% of
	// responses outlive the timeout); the other outcomes depend on the
	// machine's speed.
	if tally[success] == 0 || tally[rejectedBreaker] == 0 || tally[timedOut] == 0 {
		t.Errorf("the load did not exercise the policies: %v", tally)
	}
	for o, n := range tally {
		if n == 0 {
			t.Logf("no call ended in %s this time", outcomeNames[o])
		}
	}

	// Goroutines and memory return to where they were.
	transport.CloseIdleConnections()
	server.Close()
	if err := mp.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if err := tp.Shutdown(context.Background()); err != nil {
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

	pipeline, pr, client, transport, tel = nil, nil, nil, nil, nil
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("goroutines: %d at the start, %d at the end; heap: %.1f MiB at the start, %.1f MiB at the peak sample, %.1f MiB at the end (after GC)",
		goroutinesBefore, goroutinesAfter, mib(heapBefore), mib(heapPeak.Load()), mib(ms.HeapAlloc))
	if ms.HeapAlloc > heapBefore+heapGrowthBound {
		t.Errorf("heap grew from %.1f MiB to %.1f MiB", mib(heapBefore), mib(ms.HeapAlloc))
	}
	if heapPeak.Load() > heapPeakBound {
		t.Errorf("heap peaked at %.1f MiB", mib(heapPeak.Load()))
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
