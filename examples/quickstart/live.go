package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/palisade-go/palisade/live"
)

// serveLive serves palisade's live view on addr, at /debug/palisade, until
// the returned function is called. The pipelines' latency comes from
// reader. Requests from the loopback interface may isolate and reset the
// breaker: the demo is yours.
func serveLive(addr string, reader sdkmetric.Reader, out io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-serve: %w", err)
	}
	view := live.Must(live.Config{Authorize: fromLoopback, MetricReader: reader})
	mux := http.NewServeMux()
	mux.Handle("/debug/palisade", view)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(view.Close)
	go srv.Serve(ln)
	fmt.Fprintf(out, "Live view: http://%s/debug/palisade\n\n", ln.Addr())
	return func() {
		view.Close() // ends the pages' event streams
		srv.Close()
	}, nil
}

// fromLoopback approves the requests made from this machine.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}
