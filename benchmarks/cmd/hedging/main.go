// Command hedging measures what hedging does to tail latency, and what it
// costs in extra requests, against a loopback HTTP server whose latency has
// a heavy tail: 98% of responses take about 2 ms (1.5–2.5 ms), 2% take
// 100 ms, whoever asks.
//
// Five clients (and more palisade quantiles, -more-quantiles) call it in the same run, their requests interleaved at an
// open-loop rate (each client's requests are sent on schedule, whether the
// earlier ones have returned or not, and a request's latency counts from
// its scheduled start): no hedging; palisade's hedge with a fixed 10 ms
// delay and with the 0.95 latency quantile; failsafe-go's hedgepolicy
// with a fixed 10 ms delay and with its 0.95 moving quantile. The server
// counts the requests each client made; extra requests are those beyond
// one per call. It prints a table and writes an SVG plot of latency by
// percentile.
//
//	go run ./cmd/hedging                 # 5 s warm-up, 90 s measured
//	go run ./cmd/hedging -duration 20s   # a short run
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/hedgepolicy"

	"github.com/palisade-go/palisade/policy/hedge"
	"github.com/palisade-go/palisade/telemetry"
)

var (
	duration      = flag.Duration("duration", 90*time.Second, "measured time (after the warm-up)")
	warmup        = flag.Duration("warmup", 5*time.Second, "warm-up before measuring: the quantile estimates learn")
	rate          = flag.Float64("rate", 300, "calls per second, per client")
	svgPath       = flag.String("svg", "results/hedging.svg", "where to write the plot")
	fsAge         = flag.Uint("fs-age", 100, "failsafe-go's quantileAge (executions its moving quantile remembers)")
	fsThresh      = flag.Uint("fs-threshold", 20, "failsafe-go's executionThreshold (executions before hedging)")
	tailRatio     = flag.Float64("tail", 0.02, "share of responses that are slow")
	moreQuantiles = flag.String("more-quantiles", "0.97", "more palisade quantile hedges to run, comma-separated (\"\" for none)")
	debug         = flag.Bool("debug", false, "print palisade's quantile delay every second")
	tailDelay     = flag.Duration("tail-latency", 100*time.Millisecond, "latency of a slow response")
)

// lateness is how late measured calls started, after their schedule.
var lateness struct {
	sync.Mutex
	d []time.Duration
}

// client is one way of calling the server.
type client struct {
	name string
	call func(ctx context.Context, send func(context.Context) error) error

	served atomic.Int64 // measured requests the server received from it
	mu     sync.Mutex
	lat    []time.Duration // of measured calls
	errs   int
}

func main() {
	flag.Parse()
	log.SetFlags(0)

	quiet := telemetry.Disabled()
	quantileHedge := hedge.Must(hedge.Config{Name: "quantile", Quantile: 0.95, Telemetry: quiet})
	clients := []*client{
		{name: "no hedging", call: func(ctx context.Context, send func(context.Context) error) error { return send(ctx) }},
		policyClient("palisade, fixed 10ms", hedge.Must(hedge.Config{Name: "fixed", Delay: 10 * time.Millisecond, Telemetry: quiet})),
		policyClient("palisade, quantile 0.95", quantileHedge),
		failsafeClient("failsafe-go, fixed 10ms", hedgepolicy.NewWithDelay[any](10*time.Millisecond)),
		failsafeClient(fmt.Sprintf("failsafe-go, quantile 0.95 (age %d)", *fsAge), hedgepolicy.NewWithDelayQuantile[any](0.95, *fsAge, *fsThresh)),
	}
	// Both quantile hedges trade p99 against extra load along the same
	// curve (a later hedge costs fewer requests and helps later): more
	// palisade quantiles place palisade on it, for a comparison at equal
	// load.
	for _, q := range strings.Split(*moreQuantiles, ",") {
		if q = strings.TrimSpace(q); q == "" {
			continue
		}
		v, err := strconv.ParseFloat(q, 64)
		if err != nil {
			log.Fatalf("-more-quantiles: %v", err)
		}
		clients = append(clients, policyClient("palisade, quantile "+q,
			hedge.Must(hedge.Config{Name: "quantile-" + q, Quantile: v, Telemetry: quiet})))
	}

	if *debug {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		go func() {
			for range tick.C {
				d, ok := quantileHedge.Delay()
				log.Printf("palisade's quantile delay: %v (estimated: %v)", d, ok)
			}
		}()
	}
	url, stop := serve(clients)
	defer stop()
	transport := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}
	defer transport.CloseIdleConnections()
	httpClient := &http.Client{Transport: transport}

	interval := time.Duration(float64(time.Second) / (*rate * float64(len(clients))))
	start := time.Now()
	measureFrom := start.Add(*warmup)
	end := measureFrom.Add(*duration)
	log.Printf("%d clients × %.0f calls/s, %v warm-up + %v measured, server tail %.1f%% × %v",
		len(clients), *rate, *warmup, *duration, 100**tailRatio, *tailDelay)

	var wg sync.WaitGroup
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(end) {
			break
		}
		time.Sleep(time.Until(at))
		c := clients[i%len(clients)]
		idx := i % len(clients)
		measured := !at.Before(measureFrom)
		wg.Go(func() {
			if measured {
				late := time.Since(at)
				lateness.Lock()
				lateness.d = append(lateness.d, late)
				lateness.Unlock()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			send := func(ctx context.Context) error { return get(ctx, httpClient, url, idx, measured) }
			err := c.call(ctx, send)
			d := time.Since(at)
			if !measured {
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			c.lat = append(c.lat, d)
			if err != nil {
				c.errs++
			}
		})
	}
	wg.Wait()
	// The machine's own stalls show in every client's tail: how late calls
	// started says how much.
	slices.Sort(lateness.d)
	log.Printf("calls started late by: p50 %v, p99 %v, p99.9 %v, max %v (the machine's stalls, in every client's latency)",
		quantile(lateness.d, 50), quantile(lateness.d, 99), quantile(lateness.d, 99.9), quantile(lateness.d, 100))
	report(clients)
}

func policyClient(name string, h *hedge.Hedge) *client {
	return &client{name: name, call: func(ctx context.Context, send func(context.Context) error) error {
		return h.Execute(ctx, send)
	}}
}

func failsafeClient(name string, hp hedgepolicy.HedgePolicy[any]) *client {
	ex := failsafe.With[any](hp)
	return &client{name: name, call: func(ctx context.Context, send func(context.Context) error) error {
		return ex.WithContext(ctx).RunWithExecution(func(exec failsafe.Execution[any]) error {
			return send(exec.Context())
		})
	}}
}

// get sends one request as client idx.
func get(ctx context.Context, c *http.Client, url string, idx int, measured bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Client", strconv.Itoa(idx))
	if measured {
		req.Header.Set("X-Measured", "1")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// serve starts the loopback server; it counts each client's measured
// requests.
func serve(clients []*client) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Measured") == "1" {
			if i, err := strconv.Atoi(r.Header.Get("X-Client")); err == nil && i >= 0 && i < len(clients) {
				clients[i].served.Add(1)
			}
		}
		d := 1500*time.Microsecond + rand.N(time.Millisecond)
		if rand.Float64() < *tailRatio {
			d = *tailDelay
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			_, _ = io.WriteString(w, "ok")
		case <-r.Context().Done(): // a hedge won elsewhere: the client went away
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/", func() { _ = srv.Close() }
}

// percentiles plotted and tabulated.
var percentiles = []float64{50, 75, 90, 95, 98, 99, 99.5, 99.9}

func quantile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func report(clients []*client) {
	fmt.Println()
	fmt.Println("| client | calls | p50 | p99 | p99.9 | extra requests | errors |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	curves := make([][]float64, len(clients))
	for i, c := range clients {
		slices.Sort(c.lat)
		n := len(c.lat)
		extra := 100 * (float64(c.served.Load())/float64(max(n, 1)) - 1)
		fmt.Printf("| %s | %d | %.1f ms | %.1f ms | %.1f ms | %+.2f%% | %d |\n", c.name, n,
			ms(quantile(c.lat, 50)), ms(quantile(c.lat, 99)), ms(quantile(c.lat, 99.9)), extra, c.errs)
		for _, p := range percentiles {
			curves[i] = append(curves[i], ms(quantile(c.lat, p)))
		}
		c.name = fmt.Sprintf("%s (%+.1f%% requests)", c.name, extra)
	}
	if err := writeSVG(*svgPath, clients, curves); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\nplot: %s\n", *svgPath)
}

// writeSVG plots latency (log scale) by percentile, one line per client.
func writeSVG(path string, clients []*client, curves [][]float64) error {
	const (
		w, h                     = 880, 420
		left, right, top, bottom = 70, 330, 40, 50
		minMS, maxMS             = 1.0, 200.0
	)
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	x := func(i int) float64 { return left + pw*float64(i)/float64(len(percentiles)-1) }
	y := func(v float64) float64 {
		v = min(max(v, minMS), maxMS)
		return top + ph*(1-math.Log(v/minMS)/math.Log(maxMS/minMS))
	}
	colors := []string{"#888888", "#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd", "#17becf"}
	dashes := []string{"", "", "", "6,4", "6,4", "", ""}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14" font-weight="bold">Latency by percentile, server tail %.0f%% × %v, %.0f calls/s per client</text>`+"\n", left, 100**tailRatio, *tailDelay, *rate)
	for _, v := range []float64{1, 2, 5, 10, 20, 50, 100, 200} {
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e0e0e0"/>`+"\n", left, left+pw, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%g ms</text>`+"\n", left-6, y(v)+4, v)
	}
	for i, p := range percentiles {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#f0f0f0"/>`+"\n", x(i), x(i), top, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">p%g</text>`+"\n", x(i), top+ph+18, p)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">percentile</text>`+"\n", left+pw/2, h-8)
	for ci, c := range clients {
		var pts []string
		for i, v := range curves[ci] {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
		}
		color := colors[ci%len(colors)]
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s" points="%s"/>`+"\n", color, dashes[ci%len(dashes)], strings.Join(pts, " "))
		ly := top + 10 + 22*ci
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`+"\n", left+pw+12, left+pw+36, ly, ly, color, dashes[ci%len(dashes)])
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11">%s</text>`+"\n", left+pw+40, ly+4, escape(c.name))
	}
	b.WriteString("</svg>\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
