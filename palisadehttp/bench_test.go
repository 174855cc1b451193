package palisadehttp_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palisade-go/palisade/palisadehttp"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// okBase answers every request 200 with a short body, without a network.
type okBase struct{}

func (okBase) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{},
		Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

// BenchmarkRoundTrip measures what the Transport adds to a round trip: the
// base answers at once.
func BenchmarkRoundTrip(b *testing.B) {
	passThrough := policyFunc(func(ctx context.Context, fn policy.Func) error { return fn(ctx) })
	to := timeout.Must(timeout.Config{Duration: time.Minute, Telemetry: telemetry.Disabled()})
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"base", okBase{}},
		{"policy=pass-through", &palisadehttp.Transport{Base: okBase{}, Policy: passThrough}},
		{"policy=timeout", &palisadehttp.Transport{Base: okBase{}, Policy: to}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, "http://example.test/", nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := bc.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
