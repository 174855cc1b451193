// Command config runs a service whose resilience pipelines come from a YAML
// file, reloaded while it runs.
//
// The service looks up stock levels in an inventory backend on 127.0.0.1
// that takes 100ms to answer, through the pipeline "inventory" of
// pipelines.yaml: a breaker and a timeout of 50ms — too short, so every call
// times out and the breaker opens. Edit the file while the example runs
// (raise the timeout to 500ms): the service reloads it within a second, the
// new timeout takes effect for the next calls, and the breaker, whose
// settings did not change, is the same one, still open, until its break ends
// and trial calls close it.
//
//	go run ./examples/config                          # a copy of pipelines.yaml in a temporary directory
//	go run ./examples/config -config examples/config/pipelines.yaml
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"github.com/palisade-go/palisade/config"
	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/timeout"
)

//go:embed pipelines.yaml
var defaultPipelines []byte

// appConfig configures a run.
type appConfig struct {
	ConfigPath string        // the pipelines file; "" for a copy of pipelines.yaml in a temporary directory
	Interval   time.Duration // how often the file is read
	Latency    time.Duration // of the inventory backend
	Calls      int           // lookups to make
	Pause      time.Duration // between lookups
}

func defaultConfig() appConfig {
	return appConfig{Interval: time.Second, Latency: 100 * time.Millisecond, Calls: 120, Pause: 500 * time.Millisecond}
}

func main() {
	cfg := defaultConfig()
	flag.StringVar(&cfg.ConfigPath, "config", "", "pipelines file (default: a copy of pipelines.yaml in a temporary directory)")
	flag.DurationVar(&cfg.Interval, "interval", cfg.Interval, "how often the file is read")
	flag.IntVar(&cfg.Calls, "calls", cfg.Calls, "lookups to make")
	flag.DurationVar(&cfg.Pause, "pause", cfg.Pause, "pause between lookups")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Service looks up stock levels through the pipeline "inventory" of a
// watched file.
type Service struct {
	pipelines *config.Pipelines
	client    *http.Client
	baseURL   string
}

// NewService watches the pipelines file at path, reporting reloads to out,
// and returns a service calling the inventory backend at baseURL. Close
// stops the watching.
func NewService(ctx context.Context, path, baseURL string, interval time.Duration, out io.Writer) (*Service, error) {
	pipelines, err := config.Watch(ctx, path, config.WithInterval(interval),
		config.WithOnReload(func(err error) {
			if err != nil {
				fmt.Fprintf(out, "-- reload failed, the running pipelines are kept: %v\n", err)
				return
			}
			fmt.Fprintln(out, "-- reloaded", path)
		}))
	if err != nil {
		return nil, err
	}
	// The handle runs each request through the pipeline current when it
	// starts: the client never needs rebuilding.
	client := &http.Client{Transport: &palisadehttp.Transport{Policy: pipelines.Policy("inventory")}}
	return &Service{pipelines: pipelines, client: client, baseURL: baseURL}, nil
}

// Stock returns the stock of item.
func (s *Service) Stock(ctx context.Context, item string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL+"/stock/"+item, nil)
	if err != nil {
		return "", err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("inventory: %s", resp.Status)
	}
	return string(body), nil
}

// Breaker returns the breaker of the current inventory pipeline.
func (s *Service) Breaker() *breaker.Breaker {
	for _, p := range s.pipelines.Get("inventory").Policies() {
		if b, ok := p.(*breaker.Breaker); ok {
			return b
		}
	}
	return nil
}

// Close stops watching the file and closes idle connections.
func (s *Service) Close() {
	s.pipelines.Close()
	s.client.CloseIdleConnections()
}

// backend is the inventory service: every answer takes latency.
type backend struct {
	URL string
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

func startBackend(latency time.Duration) (*backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &backend{URL: "http://" + ln.Addr().String(), ln: ln}
	b.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
		fmt.Fprintf(w, "%s: 42 in stock", filepath.Base(r.URL.Path))
	})}
	b.wg.Go(func() { _ = b.srv.Serve(ln) })
	return b, nil
}

func (b *backend) Close() {
	_ = b.srv.Close()
	b.wg.Wait()
}

// syncWriter serializes the writes of the lookups and of the reloads.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func run(ctx context.Context, cfg appConfig, w io.Writer) error {
	out := &syncWriter{w: w}
	path := cfg.ConfigPath
	if path == "" {
		dir, err := os.MkdirTemp("", "palisade-config-example")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "pipelines.yaml")
		if err := os.WriteFile(path, defaultPipelines, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "pipelines from %s: edit its timeout while this runs\n", path)

	be, err := startBackend(cfg.Latency)
	if err != nil {
		return err
	}
	defer be.Close()
	svc, err := NewService(ctx, path, be.URL, cfg.Interval, out)
	if err != nil {
		return err
	}
	defer svc.Close()

	for i := range cfg.Calls {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(cfg.Pause):
			}
		}
		stock, err := svc.Stock(ctx, "widget")
		state := svc.Breaker().State()
		switch {
		case err == nil:
			fmt.Fprintf(out, "lookup %d: %s (breaker %v)\n", i+1, stock, state)
		case errors.Is(err, breaker.ErrOpen):
			d, _ := policy.RetryAfter(err)
			fmt.Fprintf(out, "lookup %d: rejected, breaker %v for %v more\n", i+1, state, d.Round(time.Millisecond))
		case errors.Is(err, timeout.ErrTimeout):
			fmt.Fprintf(out, "lookup %d: timed out (breaker %v)\n", i+1, state)
		case ctx.Err() != nil:
			return nil
		default:
			fmt.Fprintf(out, "lookup %d: error: %v (breaker %v)\n", i+1, err, state)
		}
	}
	return nil
}
