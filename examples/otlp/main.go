// Command otlp sends palisade's traces and metrics to an OpenTelemetry
// collector over OTLP/HTTP.
//
// It calls a simulated payments service through the pipeline retry →
// breaker → timeout. The service works for a few calls and then fails: the
// retries show up as palisade.retry events on the pipeline's spans, the
// breaker opens, and the calls it rejects are spans with status Error and a
// palisade.rejected event. The breaker's metrics (palisade.breaker.status,
// palisade.breaker.transitions, palisade.rejected_calls, …) go out with them.
//
// Start anything that accepts OTLP/HTTP on port 4318 — an OpenTelemetry
// Collector, Jaeger, Grafana's LGTM image — then:
//
//	go run ./examples/otlp
//	go run ./examples/otlp -endpoint http://collector.internal:4318
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// config is what one run does.
type config struct {
	Endpoint string        // base URL of the OTLP/HTTP receiver; /v1/traces and /v1/metrics are added
	Calls    int           // calls to make
	FailFrom int           // the service fails from this call on
	Pause    time.Duration // between two calls
}

func defaultConfig() config {
	return config{Endpoint: "http://127.0.0.1:4318", Calls: 12, FailFrom: 4, Pause: 100 * time.Millisecond}
}

func main() {
	cfg := defaultConfig()
	flag.StringVar(&cfg.Endpoint, "endpoint", cfg.Endpoint, "base URL of the OTLP/HTTP receiver")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "otlp:", err)
		os.Exit(1)
	}
}

// errDeclined is the simulated payments service's failure.
var errDeclined = errors.New("payments: upstream unavailable")

// run makes cfg.Calls calls through the pipeline, exporting their traces and
// metrics to cfg.Endpoint, and flushes both before it returns.
func run(ctx context.Context, cfg config, out io.Writer) error {
	base := strings.TrimSuffix(cfg.Endpoint, "/")
	// The exporters' own HTTP client, so that its connections can be closed.
	httpClient := &http.Client{Transport: &http.Transport{}}
	defer httpClient.CloseIdleConnections()

	traceExporter, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpointURL(base+"/v1/traces"), otlptracehttp.WithHTTPClient(httpClient))
	if err != nil {
		return err
	}
	metricExporter, err := otlpmetrichttp.New(ctx,
		otlpmetrichttp.WithEndpointURL(base+"/v1/metrics"), otlpmetrichttp.WithHTTPClient(httpClient))
	if err != nil {
		return err
	}
	res := resource.NewSchemaless(semconv.ServiceName("checkout"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(traceExporter), sdktrace.WithResource(res))
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExporter, sdkmetric.WithInterval(10*time.Second))),
		sdkmetric.WithResource(res))
	// An application would usually call otel.SetTracerProvider and
	// otel.SetMeterProvider, and leave Telemetry nil in every Config.
	tel := telemetry.New(telemetry.WithTracerProvider(tp), telemetry.WithMeterProvider(mp))

	b := breaker.Must(breaker.Config{
		Name:                "payments",
		ConsecutiveFailures: 3,
		BreakDuration:       time.Minute,
		Telemetry:           tel,
	})
	pipeline := policy.NewPipeline("payments",
		retry.Must(retry.Config{
			Name:        "payments",
			MaxAttempts: 2,
			BackOff:     func() backoff.BackOff { return backoff.NewConstantBackOff(10 * time.Millisecond) },
			ShouldRetry: func(err error) bool { return !errors.Is(err, policy.ErrRejected) },
			Telemetry:   tel,
		}),
		b,
		timeout.Must(timeout.Config{Name: "payments", Duration: time.Second, Telemetry: tel}),
	).WithTelemetry(tel)

	fmt.Fprintf(out, "exporting traces and metrics to %s\n", base)
	for i := range cfg.Calls {
		err := pipeline.Execute(ctx, func(ctx context.Context) error {
			if i >= cfg.FailFrom {
				return errDeclined
			}
			return nil
		})
		switch {
		case errors.Is(err, policy.ErrRejected):
			fmt.Fprintf(out, "call %2d: rejected: %v\n", i+1, err)
		case err != nil:
			fmt.Fprintf(out, "call %2d: failed: %v\n", i+1, err)
		default:
			fmt.Fprintf(out, "call %2d: ok\n", i+1)
		}
		select {
		case <-ctx.Done():
		case <-time.After(cfg.Pause):
		}
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Fprintf(out, "breaker %s; flushing\n", b.State())

	// Shutting the providers down exports what they hold.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := errors.Join(tp.Shutdown(flushCtx), mp.Shutdown(flushCtx)); err != nil {
		return fmt.Errorf("exporting to %s (is an OTLP/HTTP receiver listening there?): %w", base, err)
	}
	fmt.Fprintln(out, "exported")
	return nil
}
