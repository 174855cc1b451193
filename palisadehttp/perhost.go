package palisadehttp

import (
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/palisade-go/palisade/registry"
)

// PerHost is an http.RoundTripper that runs each request through a pipeline
// of its host's own, taken from a [registry.Registry] keyed by host, so
// that one failing host opens its own breaker and fills its own bulkhead
// while the client's other hosts go on:
//
//	hosts := registry.Must(registry.Config[string]{
//		New: func(host string) (*policy.Pipeline, error) { ... },
//		MaxEntries: 1000,
//	})
//	client := &http.Client{Transport: &palisadehttp.PerHost{Registry: hosts}}
//
// Each request is then sent as a [Transport] with that pipeline as its
// Policy would send it. A request whose host the registry cannot give a
// pipeline for (a full registry whose entries are all busy: see
// registry.ErrFull; a failed build) is not sent: RoundTrip closes its body
// and returns the registry's error, which for a full registry matches
// policy.ErrRejected.
//
// Hosts come from the URLs the client is asked to fetch: a client that
// fetches URLs given by others (a crawler, a webhook sender, a proxy) may
// be asked for any number of hosts, which the registry's MaxEntries bounds.
// A PerHost is safe for concurrent use and must not be changed once in use.
type PerHost struct {
	// Base sends each attempt. Nil means http.DefaultTransport.
	Base http.RoundTripper

	// Registry holds the pipeline of each key; required.
	Registry *registry.Registry[string]

	// Key returns a request's key in Registry. Nil means [HostKey].
	Key func(*http.Request) string

	// IsFailure is as in Transport: nil means DefaultIsFailure.
	IsFailure func(*http.Response) bool
}

var _ http.RoundTripper = (*PerHost)(nil)

// errNoRegistry is the error of a PerHost without a Registry.
var errNoRegistry = errors.New("palisadehttp: PerHost.Registry is nil")

// RoundTrip sends req through the pipeline of its key.
func (t *PerHost) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Registry == nil {
		closeRequestBody(req)
		return nil, errNoRegistry
	}
	key := t.Key
	if key == nil {
		key = HostKey
	}
	p, err := t.Registry.Get(key(req))
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	tr := Transport{Base: t.Base, Policy: p, IsFailure: t.IsFailure}
	return tr.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of Base, as
// Transport.CloseIdleConnections does.
func (t *PerHost) CloseIdleConnections() {
	tr := Transport{Base: t.Base}
	tr.CloseIdleConnections()
}

// closeRequestBody closes the body of a request that will not be sent, as a
// RoundTripper must.
func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// HostKey returns the key PerHost uses by default: the host and port the
// request goes to, in lower case, the scheme's default port left out, so
// that "https://API.example.com/" and "https://api.example.com:443/" share
// one pipeline while "http://api.example.com:8080/" has its own. It is
// req.URL.Host, or req.Host when the URL has none.
func HostKey(req *http.Request) string {
	host := req.Host
	if req.URL != nil && req.URL.Host != "" {
		host = req.URL.Host
	}
	host = strings.ToLower(host)
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return host // no port
	}
	scheme := ""
	if req.URL != nil {
		scheme = strings.ToLower(req.URL.Scheme)
	}
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		if strings.Contains(h, ":") {
			return "[" + h + "]" // an IPv6 literal keeps its brackets
		}
		return h
	}
	return host
}
