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
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://collector.internal:4318 go run ./examples/otlp
//	go run ./examples/otlp -endpoint http://collector.internal:4318
//
// The exporters and the SDK are configured as every OpenTelemetry program
// is, by the standard OTEL_* environment variables, which they read
// themselves: OTEL_EXPORTER_OTLP_ENDPOINT (or the per-signal
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_EXPORTER_OTLP_METRICS_ENDPOINT),
// OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION, _CERTIFICATE, …,
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, OTEL_METRIC_EXPORT_INTERVAL,
// OTEL_BSP_*, OTEL_TRACES_SAMPLER. The -endpoint flag overrides the
// endpoint variables. With neither, the data goes to http://localhost:4318,
// OTLP/HTTP's default.
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
	// Endpoint is the base URL of the OTLP/HTTP receiver, to which
	// /v1/traces and /v1/metrics are added. It overrides the OTEL_*
	// endpoint variables; empty means theirs, else defaultEndpoint.
	Endpoint string
	Calls    int           // calls to make
	FailFrom int           // the service fails from this call on
	Pause    time.Duration // between two calls
}

// defaultEndpoint is OTLP/HTTP's default endpoint, used when neither the
// flag nor the environment gives one. (Without one, Go's OTLP exporters
// would use https://localhost:4318; a local collector listens on plain
// HTTP.)
const defaultEndpoint = "http://localhost:4318"

// serviceName is the service.name of the example's resource, unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES sets another.
const serviceName = "checkout"

func defaultConfig() config {
	return config{Calls: 12, FailFrom: 4, Pause: 100 * time.Millisecond}
}

func main() {
	cfg := defaultConfig()
	flag.StringVar(&cfg.Endpoint, "endpoint", cfg.Endpoint,
		"base URL of the OTLP/HTTP receiver, overriding OTEL_EXPORTER_OTLP_ENDPOINT and the per-signal variables (default: from them, else "+defaultEndpoint+")")
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
// metrics to cfg.Endpoint, or where the OTEL_* variables say, and flushes
// both before it returns.
func run(ctx context.Context, cfg config, out io.Writer) error {
	// The exporters' own HTTP client, so that its connections can be closed.
	httpClient := &http.Client{Transport: &http.Transport{}}
	defer httpClient.CloseIdleConnections()

	traceOpts := []otlptracehttp.Option{otlptracehttp.WithHTTPClient(httpClient)}
	if u, ok := endpointURL(cfg.Endpoint, "TRACES", "/v1/traces"); ok {
		traceOpts = append(traceOpts, otlptracehttp.WithEndpointURL(u))
	}
	traceExporter, err := otlptracehttp.New(ctx, traceOpts...)
	if err != nil {
		return err
	}
	metricOpts := []otlpmetrichttp.Option{otlpmetrichttp.WithHTTPClient(httpClient)}
	if u, ok := endpointURL(cfg.Endpoint, "METRICS", "/v1/metrics"); ok {
		metricOpts = append(metricOpts, otlpmetrichttp.WithEndpointURL(u))
	}
	metricExporter, err := otlpmetrichttp.New(ctx, metricOpts...)
	if err != nil {
		return err
	}
	// service.name "checkout", unless OTEL_SERVICE_NAME or
	// OTEL_RESOURCE_ATTRIBUTES say otherwise: the later detector wins.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(serviceName)),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK())
	if err != nil {
		return err
	}
	// No interval or batching options: the SDK reads
	// OTEL_METRIC_EXPORT_INTERVAL and OTEL_BSP_* itself, and shutting the
	// providers down exports what they hold whatever the interval.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(traceExporter), sdktrace.WithResource(res))
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExporter)),
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

	dest := destination(cfg.Endpoint)
	fmt.Fprintf(out, "exporting traces and metrics to %s\n", dest)
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
		return fmt.Errorf("exporting to %s (is an OTLP/HTTP receiver listening there?): %w", dest, err)
	}
	fmt.Fprintln(out, "exported")
	return nil
}

// endpointURL returns the URL that the exporter of a signal ("TRACES" or
// "METRICS", whose path is path) must be given: the flag's, when set; else
// none (false), when an OTEL_* variable sets the signal's endpoint, for the
// exporter reads it itself; else the default's.
func endpointURL(flagEndpoint, signal, path string) (string, bool) {
	if flagEndpoint != "" {
		return strings.TrimSuffix(flagEndpoint, "/") + path, true
	}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != "" {
		return "", false
	}
	return defaultEndpoint + path, true
}

// destination describes where the data goes, for the messages.
func destination(flagEndpoint string) string {
	if flagEndpoint != "" {
		return strings.TrimSuffix(flagEndpoint, "/")
	}
	var set []string
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
		if e := os.Getenv(v); e != "" {
			set = append(set, v+"="+e)
		}
	}
	if len(set) > 0 {
		return strings.Join(set, ", ")
	}
	return defaultEndpoint
}
