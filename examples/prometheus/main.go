// Command prometheus exports palisade's metrics to Prometheus.
//
// It protects a simulated inventory service — up, then down for -outage (10s),
// then up again, in every -cycle (30s) — with the pipeline retry → breaker → timeout → bulkhead, records
// the metrics with the OpenTelemetry SDK and serves them, through
// go.opentelemetry.io/otel/exporters/prometheus, on /metrics:
//
//	go run ./examples/prometheus                       # http://127.0.0.1:9464/metrics
//	go run ./examples/prometheus -addr 127.0.0.1:9000 -duration 5m
//	go run ./examples/prometheus -cycle 2m -outage 45s -rate 200
//
// The names are fixed — palisade_breaker_status,
// palisade_rejected_calls_total, palisade_pipeline_duration_seconds, … — and
// which breaker, bulkhead or pipeline a series belongs to is in its labels
// (palisade_policy_name, palisade_pipeline_name), so one dashboard serves
// every service: see grafana-dashboard.json beside this file.
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
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// config is what one run does.
type config struct {
	Addr     string        // where /metrics is served
	Duration time.Duration // how long to run; 0 means until interrupted
	Rate     int           // calls a second to the inventory service
	Cycle    time.Duration // the service's up-down-up period
	Outage   time.Duration // how long it is down, in the middle of each cycle
}

// down reports whether the service is down at elapsed since the start: for
// Outage in the middle of each Cycle, so that any run as long as a cycle
// shows healthy traffic, the outage and the recovery.
func (cfg config) down(elapsed time.Duration) bool {
	from := (cfg.Cycle - cfg.Outage) / 2
	at := elapsed % cfg.Cycle
	return at >= from && at < from+cfg.Outage
}

// validate checks the flags' values.
func (cfg config) validate() error {
	switch {
	case cfg.Rate <= 0:
		return fmt.Errorf("-rate must be > 0, got %d", cfg.Rate)
	case cfg.Cycle <= 0:
		return fmt.Errorf("-cycle must be > 0, got %v", cfg.Cycle)
	case cfg.Outage < 0 || cfg.Outage > cfg.Cycle:
		return fmt.Errorf("-outage must be between 0 and -cycle (%v), got %v", cfg.Cycle, cfg.Outage)
	}
	return nil
}

func defaultConfig() config {
	return config{Addr: "127.0.0.1:9464", Rate: 50, Cycle: 30 * time.Second, Outage: 10 * time.Second}
}

func main() {
	cfg := defaultConfig()
	flag.StringVar(&cfg.Addr, "addr", cfg.Addr, "address to serve /metrics on")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to run (0: until interrupted)")
	flag.IntVar(&cfg.Rate, "rate", cfg.Rate, "calls a second to the inventory service")
	flag.DurationVar(&cfg.Cycle, "cycle", cfg.Cycle, "the inventory service's period: up, down for -outage, up again")
	flag.DurationVar(&cfg.Outage, "outage", cfg.Outage, "how long the inventory service is down in the middle of each -cycle")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "prometheus:", err)
		os.Exit(1)
	}
}

// app is the instrumented program: a pipeline reporting to a meter provider
// read by the Prometheus exporter, and the handler serving /metrics.
type app struct {
	provider *sdkmetric.MeterProvider
	pipeline *policy.Pipeline
	breaker  *breaker.Breaker
	handler  http.Handler
}

// newApp builds the app, its exporter registered with a registry of its own.
func newApp() (*app, error) {
	registry := prom.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, err
	}
	provider := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exporter),
		sdkmetric.WithResource(resource.NewSchemaless(semconv.ServiceName("inventory-client"))),
	)
	tel := telemetry.New(telemetry.WithMeterProvider(provider))

	b := breaker.Must(breaker.Config{
		Name:          "inventory",
		BreakDuration: 5 * time.Second,
		IsFailure: func(err error) bool {
			return !errors.Is(err, policy.ErrRejected) && !errors.Is(err, context.Canceled)
		},
		Telemetry: tel,
	})
	pipeline := policy.NewPipeline("inventory",
		retry.Must(retry.Config{
			Name:        "inventory",
			MaxAttempts: 3,
			BackOff: func() backoff.BackOff {
				b := backoff.NewExponentialBackOff()
				b.InitialInterval, b.MaxElapsedTime = 10*time.Millisecond, 0
				return b
			},
			ShouldRetry: func(err error) bool { return !errors.Is(err, policy.ErrRejected) },
			Budget:      budget.Must(budget.Config{Ratio: 0.2, MinExtra: 5}),
			Telemetry:   tel,
		}),
		b,
		timeout.Must(timeout.Config{Name: "inventory", Duration: 100 * time.Millisecond, Telemetry: tel}),
		bulkhead.Must(bulkhead.Config{Name: "inventory", MaxConcurrent: 8, Telemetry: tel}),
	).WithTelemetry(tel)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	return &app{provider: provider, pipeline: pipeline, breaker: b, handler: mux}, nil
}

// errUnavailable is the simulated service's failure.
var errUnavailable = errors.New("inventory: service unavailable")

// checkStock is one call to the simulated inventory service, which takes a
// few milliseconds, now and then too long, and fails with probability
// failRate.
func checkStock(ctx context.Context, failRate float64) error {
	delay := time.Duration(1+rand.IntN(20)) * time.Millisecond
	if rand.IntN(100) == 0 {
		delay = time.Second // beyond the timeout
	}
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	if rand.Float64() < failRate {
		return errUnavailable
	}
	return nil
}

// run serves /metrics on cfg.Addr and calls the inventory service through
// the pipeline until cfg.Duration has passed or ctx ends.
func run(ctx context.Context, cfg config, out io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	a, err := newApp()
	if err != nil {
		return err
	}
	defer a.provider.Shutdown(context.Background())

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintf(out, "serving metrics on http://%s/metrics; the inventory service is down for %v in the middle of every %v\n", ln.Addr(), cfg.Outage, cfg.Cycle)

	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	every := time.NewTicker(time.Second / time.Duration(max(cfg.Rate, 1)))
	defer every.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-every.C:
			failRate := 0.02
			if cfg.down(time.Since(start)) {
				failRate = 0.8
			}
			wg.Go(func() {
				// A call ended by the end of the run is not an outcome.
				a.pipeline.Execute(context.WithoutCancel(ctx), func(ctx context.Context) error {
					return checkStock(ctx, failRate)
				})
			})
		}
	}
}
