package palisadehttp_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/registry"
	"github.com/palisade-go/palisade/telemetry"
)

// One client calling two hosts, one of which fails: only the failing
// host's breaker opens.
func ExamplePerHost() {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	defer healthy.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer failing.Close()

	hosts := registry.Must(registry.Config[string]{
		New: func(host string) (*policy.Pipeline, error) {
			// One name for every host: one metric series, whatever the hosts.
			b, err := breaker.New(breaker.Config{Name: "per-host", ConsecutiveFailures: 2})
			if err != nil {
				return nil, err
			}
			return policy.NewPipeline("per-host", b), nil
		},
		MaxEntries: 100,
	})
	client := &http.Client{Transport: &palisadehttp.PerHost{Registry: hosts}}
	defer client.CloseIdleConnections()

	get := func(url string) string {
		resp, err := client.Get(url)
		if err != nil {
			if errors.Is(err, breaker.ErrOpen) {
				return "rejected: circuit open"
			}
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.Status
	}
	for range 3 {
		fmt.Println("failing:", get(failing.URL))
	}
	fmt.Println("healthy:", get(healthy.URL))
	// Output:
	// failing: 503 Service Unavailable
	// failing: 503 Service Unavailable
	// failing: rejected: circuit open
	// healthy: 200 OK
}

func TestPerHostSeparatesHosts(t *testing.T) {
	failing, ftr := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	healthy, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	hosts := registry.Must(registry.Config[string]{New: func(host string) (*policy.Pipeline, error) {
		return policy.NewPipeline("per-host", breaker.Must(breaker.Config{ConsecutiveFailures: 1, Telemetry: telemetry.Disabled()})), nil
	}})
	client := &http.Client{Transport: &palisadehttp.PerHost{Base: ftr, Registry: hosts}}
	for _, u := range []string{failing.URL, healthy.URL, failing.URL + "/again"} {
		resp, err := client.Get(u)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	states := map[string]breaker.State{}
	for host, p := range hosts.All() {
		states[host] = p.Policies()[0].(*breaker.Breaker).State()
	}
	fu, _ := url.Parse(failing.URL)
	hu, _ := url.Parse(healthy.URL)
	if len(states) != 2 || states[fu.Host] != breaker.Open || states[hu.Host] != breaker.Closed {
		t.Fatalf("breaker states %v, want %s open and %s closed", states, fu.Host, hu.Host)
	}
	resp, err := client.Get(healthy.URL)
	if err != nil {
		t.Fatalf("healthy host: %v", err)
	}
	resp.Body.Close()
}

// A request the registry has no room for is not sent, and its body is
// closed.
func TestPerHostRegistryFull(t *testing.T) {
	srv, tr := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	hosts := registry.Must(registry.Config[string]{MaxEntries: 1, New: func(host string) (*policy.Pipeline, error) {
		b := breaker.Must(breaker.Config{Telemetry: telemetry.Disabled()})
		b.Isolate() // busy: never evicted
		return policy.NewPipeline("p", b), nil
	}})
	rt := &palisadehttp.PerHost{Base: tr, Registry: hosts}
	first, _ := http.NewRequest("GET", "http://first.invalid/", nil)
	if _, err := rt.RoundTrip(first); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("first host: %v, want its isolated breaker's ErrOpen", err)
	}
	body := &closeCounter{Reader: strings.NewReader("payload")}
	req, _ := http.NewRequest("POST", srv.URL, body)
	_, err := rt.RoundTrip(req)
	if !errors.Is(err, registry.ErrFull) || !errors.Is(err, policy.ErrRejected) {
		t.Fatalf("second host: %v, want registry.ErrFull", err)
	}
	if body.closed != 1 {
		t.Errorf("body closed %d times, want 1", body.closed)
	}

	var none palisadehttp.PerHost
	req, _ = http.NewRequest("POST", srv.URL, &closeCounter{Reader: bytes.NewReader(nil)})
	if _, err := none.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "Registry") {
		t.Errorf("PerHost without a Registry: %v, want an error naming Registry", err)
	}
}

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestHostKey(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://API.Example.com/x", "api.example.com"},
		{"https://api.example.com:443/", "api.example.com"},
		{"http://api.example.com:80/", "api.example.com"},
		{"http://api.example.com:443/", "api.example.com:443"},
		{"https://api.example.com:8443/", "api.example.com:8443"},
		{"https://[::1]:443/", "[::1]"},
		{"http://[::1]:8080/", "[::1]:8080"},
	} {
		req, _ := http.NewRequest("GET", tc.url, nil)
		if got := palisadehttp.HostKey(req); got != tc.want {
			t.Errorf("HostKey(%s) = %q, want %q", tc.url, got, tc.want)
		}
	}
	req := &http.Request{URL: &url.URL{Path: "/"}, Host: "Other.example"}
	if got := palisadehttp.HostKey(req); got != "other.example" {
		t.Errorf("HostKey of a URL without host = %q, want Request.Host", got)
	}
}
