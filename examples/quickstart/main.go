// Command quickstart shows palisade protecting an HTTP client from a
// dependency in trouble.
//
// It starts an HTTP server on 127.0.0.1 whose day goes like this: healthy,
// then slow (many answers come too late), then failing (many requests get a
// 503), then recovered. A client sends it a steady stream of requests
// through an http.Client whose transport runs each one through the pipeline
//
//	retry → breaker → timeout → bulkhead
//
// Each second it prints what happened — calls, successes, failures,
// rejections by each policy, retries, timeouts and the breaker's state — all
// read from the OpenTelemetry metrics that palisade reports, through the
// SDK's ManualReader. At the end it prints a summary of those metrics.
//
//	go run ./examples/quickstart                 # about 15 seconds
//	go run ./examples/quickstart -duration 30s -failure-rate 0.9
//	go run ./examples/quickstart -serve 127.0.0.1:6060 -duration 60s   # and open http://127.0.0.1:6060/debug/palisade
//	go run ./examples/quickstart -chaos 0.5 -failure-rate 0            # a healthy server, faults injected in the client
//
// With -chaos, a chaos policy at the bottom of the pipeline fails that share
// of the attempts before they reach the server (every call is enabled for
// chaos with chaos.Enable): the breaker opens and the retry retries on a
// healthy day, as a game day would show.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/chaos"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// config is what one run of the demo does.
type config struct {
	Duration      time.Duration // how long the demo runs
	Rate          int           // requests the client starts per second
	SlowRate      float64       // share of requests answered too late while the server is slow
	FailureRate   float64       // share of requests answered 503 while the server is failing
	Tick          time.Duration // time between two status lines
	Timeout       time.Duration // the deadline of each attempt
	BreakDuration time.Duration // how long the breaker stays open
	Serve         string        // if set, the address to serve the live view on, at /debug/palisade
	Chaos         float64       // share of attempts a chaos policy fails before they are sent; 0: no chaos policy
}

func defaultConfig() config {
	return config{
		Duration:      15 * time.Second,
		Rate:          200,
		SlowRate:      0.2,
		FailureRate:   0.6,
		Tick:          time.Second,
		Timeout:       100 * time.Millisecond,
		BreakDuration: 2 * time.Second,
	}
}

func (c config) validate() error {
	switch {
	case c.Duration <= 0:
		return errors.New("-duration must be > 0")
	case c.FailureRate < 0 || c.FailureRate > 1:
		return errors.New("-failure-rate must be between 0 and 1")
	case c.SlowRate < 0 || c.SlowRate > 1:
		return errors.New("-slow-rate must be between 0 and 1")
	case c.Chaos < 0 || c.Chaos > 1:
		return errors.New("-chaos must be between 0 and 1")
	case c.Rate < 1 || c.Rate > 10_000:
		return errors.New("-rate must be between 1 and 10000")
	case c.Tick <= 0 || c.Timeout <= 0 || c.BreakDuration <= 0:
		return errors.New("tick, timeout and break duration must be positive")
	}
	return nil
}

func main() {
	cfg := defaultConfig()
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the demo runs")
	flag.Float64Var(&cfg.FailureRate, "failure-rate", cfg.FailureRate, "share of requests (0 to 1) the server fails while failing")
	flag.Float64Var(&cfg.SlowRate, "slow-rate", cfg.SlowRate, "share of requests (0 to 1) the server answers too late while slow")
	flag.IntVar(&cfg.Rate, "rate", cfg.Rate, "requests per second")
	flag.StringVar(&cfg.Serve, "serve", "", "serve the live view on this address (e.g. 127.0.0.1:6060), at /debug/palisade, while the demo runs")
	flag.Float64Var(&cfg.Chaos, "chaos", 0, "share of attempts (0 to 1) a chaos policy fails before they reach the server")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run runs the demo described by cfg, writing to out, until cfg.Duration has
// passed or ctx ends, and then prints the summary.
func run(ctx context.Context, cfg config, out io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	start := time.Now()
	sched := schedule{start: start, duration: cfg.Duration}

	// The dependency: a server on the loopback interface.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newFlakyServer(sched, cfg), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	// Telemetry: an OpenTelemetry SDK meter provider whose metrics the demo
	// reads back through a ManualReader.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	tel := telemetry.New(telemetry.WithMeterProvider(mp))

	// The live view, if asked for: every policy below, as it works.
	if cfg.Serve != "" {
		stopServing, err := serveLive(cfg.Serve, reader, out)
		if err != nil {
			return err
		}
		defer stopServing()
	}

	// The pipeline, outermost first.
	policies := []policy.Policy{
		retry.Must(retry.Config{
			Name:        "users-api",
			MaxAttempts: 3,
			BackOff: func() backoff.BackOff {
				b := backoff.NewExponentialBackOff()
				b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 20*time.Millisecond, 200*time.Millisecond, 0
				return b
			},
			// A rejection is a local decision: retrying it at once
			// would only be rejected again.
			ShouldRetry: func(err error) bool { return !errors.Is(err, policy.ErrRejected) },
			// Retries may add at most 20% to the load (plus a few).
			Budget:    budget.Must(budget.Config{Ratio: 0.2, MinExtra: 10, Window: time.Second}),
			Telemetry: tel,
		}),
		breaker.Must(breaker.Config{
			Name:              "users-api",
			FailureRatio:      0.5,
			MinimumThroughput: 10,
			WindowSize:        50,
			BreakDuration:     cfg.BreakDuration,
			SuccessThreshold:  3,
			// The dependency's failures count; the bulkhead's
			// rejections below are this client's own decision, and
			// the caller giving up is not the dependency's fault.
			IsFailure: func(err error) bool {
				return !errors.Is(err, policy.ErrRejected) && !errors.Is(err, context.Canceled)
			},
			Telemetry: tel,
		}),
		timeout.Must(timeout.Config{Name: "users-api", Duration: cfg.Timeout, Telemetry: tel}),
		// Room for the usual concurrency, a few times over, but not for
		// every request held up by a slow server.
		bulkhead.Must(bulkhead.Config{Name: "users-api", MaxConcurrent: 6, MaxQueue: 2, Telemetry: tel}),
	}
	if cfg.Chaos > 0 {
		// Innermost, so that every policy above sees its faults as the
		// dependency's.
		policies = append(policies, chaos.Must(chaos.Config{
			Name: "users-api", Probability: cfg.Chaos, Fault: errInjected, Telemetry: tel,
		}))
	}
	pipeline := policy.NewPipeline("users-api", policies...).WithTelemetry(tel)

	base := &http.Transport{MaxIdleConnsPerHost: 64}
	defer base.CloseIdleConnections()
	client := &http.Client{Transport: &palisadehttp.Transport{Base: base, Policy: pipeline}}
	url := "http://" + ln.Addr().String() + "/users/"

	stack := "retry → breaker → timeout → bulkhead"
	if cfg.Chaos > 0 {
		stack += fmt.Sprintf(" → chaos (failing %.0f%% of attempts)", cfg.Chaos*100)
	}
	fmt.Fprintf(out, "palisade quickstart: %d requests a second to a server on %s, through %s.\n",
		cfg.Rate, ln.Addr(), stack)
	fmt.Fprintf(out, "The server is healthy, slow from %s (%.0f%% of answers too late), failing from %s (%.0f%% errors), recovered from %s; the demo ends at %s.\n\n",
		seconds(sched.slowFrom()), cfg.SlowRate*100, seconds(sched.failingFrom()), cfg.FailureRate*100,
		seconds(sched.recoveredFrom()), seconds(cfg.Duration))

	// The client: a steady stream of requests, each in its own goroutine,
	// whether the earlier ones have finished or not, as a service's
	// incoming traffic would cause.
	callCtx := ctx
	if cfg.Chaos > 0 {
		callCtx = chaos.Enable(ctx) // every call may be picked for a fault
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		every := time.NewTicker(time.Second / time.Duration(cfg.Rate))
		defer every.Stop()
		for time.Since(start) < cfg.Duration {
			select {
			case <-ctx.Done():
				return
			case <-every.C:
				wg.Go(func() { getUser(callCtx, client, url+strconv.Itoa(rand.IntN(1000))) })
			}
		}
	})

	// The status lines, once a tick.
	fmt.Fprintln(out, header)
	var prev snapshot
	ticker := time.NewTicker(cfg.Tick)
	defer ticker.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-ticker.C:
			cur, err := collect(reader)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, statusLine(now.Sub(start), sched.phase(now), cur, prev))
			prev = cur
			if now.Sub(start) >= cfg.Duration {
				break loop
			}
		}
	}
	wg.Wait() // no new request starts; those in flight finish

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		return err
	}
	fmt.Fprintln(out)
	writeSummary(out, rm)
	return nil
}

// errInjected is the fault of the chaos policy (-chaos).
var errInjected = errors.New("chaos: injected fault")

// getUser is one client call. What it returns does not matter here: the
// demo reports what palisade's telemetry saw.
func getUser(ctx context.Context, client *http.Client, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
