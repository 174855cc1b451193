// Command httpclient looks users up over HTTP through a palisade pipeline and,
// when the circuit breaker is open, answers from its cache instead of
// failing.
//
// It starts a small users API on 127.0.0.1 that goes down after a few
// lookups. The client's pipeline is retry → breaker → timeout, run by a
// palisadehttp.Transport under an ordinary *http.Client; each attempt is
// itself traced by otelhttp, so that, with a tracer provider set, a lookup's
// trace shows the pipeline's span and one HTTP client span per attempt
// inside it. When the breaker opens, GetUser returns the last answer it saw
// for that user, marked as cached (or a placeholder if it never saw one),
// rather than an error.
//
//	go run ./examples/httpclient
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// User is what the users API returns.
type User struct {
	ID     int    `json:"id"`
	Name   string `json:"name"`
	Cached bool   `json:"cached,omitempty"` // set on answers from the cache
}

// UserClient looks users up through a resilience pipeline, with a cache of
// the last answer for each user to fall back on while the breaker is open.
type UserClient struct {
	baseURL string
	http    *http.Client
	breaker *breaker.Breaker

	mu    sync.Mutex
	cache map[int]User
}

// clientConfig configures a UserClient.
type clientConfig struct {
	BaseURL       string
	Base          http.RoundTripper    // sends each attempt; nil means http.DefaultTransport
	BreakDuration time.Duration        // how long the breaker stays open
	Timeout       time.Duration        // the deadline of each attempt
	Backoff       time.Duration        // the first retry's delay
	Telemetry     *telemetry.Telemetry // nil means the global providers
	OtelHTTP      []otelhttp.Option    // options of the otelhttp transport
}

// NewUserClient returns a client of the users API at cfg.BaseURL.
func NewUserClient(cfg clientConfig) *UserClient {
	b := breaker.Must(breaker.Config{
		Name:              "users-api",
		FailureRatio:      0.6,
		MinimumThroughput: 4,
		WindowSize:        10,
		BreakDuration:     cfg.BreakDuration,
		SuccessThreshold:  1,
		Telemetry:         cfg.Telemetry,
	})
	pipeline := policy.NewPipeline("users-api",
		retry.Must(retry.Config{
			Name:        "users-api",
			MaxAttempts: 3,
			BackOff: func() backoff.BackOff {
				b := backoff.NewExponentialBackOff()
				b.InitialInterval, b.MaxElapsedTime = cfg.Backoff, 0
				return b
			},
			// Retrying a rejection at once would be rejected again.
			ShouldRetry: func(err error) bool { return !errors.Is(err, policy.ErrRejected) },
			Telemetry:   cfg.Telemetry,
		}),
		b,
		timeout.Must(timeout.Config{Name: "users-api", Duration: cfg.Timeout, Telemetry: cfg.Telemetry}),
	).WithTelemetry(cfg.Telemetry)

	base := cfg.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return &UserClient{
		baseURL: cfg.BaseURL,
		http: &http.Client{Transport: &palisadehttp.Transport{
			// Each attempt gets its own HTTP client span, inside the
			// pipeline's span.
			Base:   otelhttp.NewTransport(base, cfg.OtelHTTP...),
			Policy: pipeline,
		}},
		breaker: b,
		cache:   map[int]User{},
	}
}

// GetUser returns the user id. While the breaker is open it returns, without
// an error, the last answer it got for id, with Cached set, or a placeholder
// "Unknown User" if it has none.
func (c *UserClient) GetUser(ctx context.Context, id int) (User, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+"/users/"+strconv.Itoa(id), nil)
	if err != nil {
		return User{}, err
	}
	resp, err := c.http.Do(req)
	if errors.Is(err, breaker.ErrOpen) {
		return c.cached(id), nil
	}
	if err != nil {
		return User{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return User{}, fmt.Errorf("users API: %s", resp.Status)
	}
	var u User
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
		return User{}, fmt.Errorf("users API: decoding user %d: %w", id, err)
	}
	c.mu.Lock()
	c.cache[id] = u
	c.mu.Unlock()
	return u, nil
}

func (c *UserClient) cached(id int) User {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.cache[id]; ok {
		u.Cached = true
		return u
	}
	return User{ID: id, Name: "Unknown User", Cached: true}
}

// CloseIdleConnections closes the client's idle connections.
func (c *UserClient) CloseIdleConnections() { c.http.CloseIdleConnections() }

// config is what one run of the demo does.
type config struct {
	Lookups       int           // lookups to make
	DownAfter     int           // the API fails every request after this many lookups...
	UpAfter       int           // ...and recovers after this many
	Pause         time.Duration // between two lookups
	BreakDuration time.Duration
	Timeout       time.Duration
	Backoff       time.Duration
}

func defaultConfig() config {
	return config{
		Lookups:       24,
		DownAfter:     6,
		UpAfter:       16,
		Pause:         150 * time.Millisecond,
		BreakDuration: time.Second,
		Timeout:       time.Second,
		Backoff:       50 * time.Millisecond,
	}
}

func main() {
	cfg := defaultConfig()
	flag.IntVar(&cfg.Lookups, "lookups", cfg.Lookups, "lookups to make")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "httpclient:", err)
		os.Exit(1)
	}
}

// run starts the users API, and looks users up in it as cfg says, printing
// each answer to out.
func run(ctx context.Context, cfg config, out io.Writer) error {
	api := newUsersAPI()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	base := &http.Transport{}
	defer base.CloseIdleConnections()
	client := NewUserClient(clientConfig{
		BaseURL:       "http://" + ln.Addr().String(),
		Base:          base,
		BreakDuration: cfg.BreakDuration,
		Timeout:       cfg.Timeout,
		Backoff:       cfg.Backoff,
	})

	for i := range cfg.Lookups {
		switch i {
		case cfg.DownAfter:
			api.down.Store(true)
			fmt.Fprintln(out, "-- the users API goes down")
		case cfg.UpAfter:
			api.down.Store(false)
			fmt.Fprintln(out, "-- the users API is back")
		}
		id := 1 + i%3
		u, err := client.GetUser(ctx, id)
		state := client.breaker.State()
		switch {
		case err != nil:
			fmt.Fprintf(out, "lookup %2d: user %d: error: %v [breaker %s]\n", i+1, id, err, state)
		case u.Cached:
			fmt.Fprintf(out, "lookup %2d: user %d: %s (cached answer: the breaker is open) [breaker %s]\n", i+1, id, u.Name, state)
		default:
			fmt.Fprintf(out, "lookup %2d: user %d: %s [breaker %s]\n", i+1, id, u.Name, state)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.Pause):
		}
	}
	return nil
}

// usersAPI is the demo's users API, which can be made to fail.
type usersAPI struct {
	http.Handler
	down atomic.Bool
}

var names = map[int]string{1: "Ada Lovelace", 2: "Grace Hopper", 3: "Barbara Liskov"}

func newUsersAPI() *usersAPI {
	api := &usersAPI{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if api.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		id, err := strconv.Atoi(r.PathValue("id"))
		name, ok := names[id]
		if err != nil || !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(User{ID: id, Name: name})
	})
	api.Handler = mux
	return api
}
