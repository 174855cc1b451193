// Command overload drives a loopback HTTP server of fixed capacity past it
// and compares how well each admission policy protects the client's
// goodput and latency: no protection, static bulkheads, palisade's adaptive
// limiter (each algorithm) and throttle, and failsafe-go's adaptivelimiter
// and adaptivethrottler.
//
// The server has a pool of workers (default 8) each serving a request in a
// fixed time (default 5 ms): 1,600 requests/s; requests beyond the workers
// queue, so latency grows with the queue. The client sends requests
// open-loop (Poisson arrivals) at 0.5×, 1×, 2× and 3× that capacity, each
// with a deadline of 1 s. Each cell runs a warm-up (not measured) and then
// a measured period. A last run halves the capacity mid-run at 1,200/s
// offered and reports how long p99 takes to come back under 2× the
// unloaded p99.
//
//	go run ./cmd/overload                      # the full table, about 4 min
//	go run ./cmd/overload -measure 2s -rows vegas,none -loads 3
//
// It prints a table and writes an SVG plot to results/overload.svg.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fslimiter "github.com/failsafe-go/failsafe-go/adaptivelimiter"
	fsthrottler "github.com/failsafe-go/failsafe-go/adaptivethrottler"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/limiter"
	"github.com/palisade-go/palisade/policy/throttle"
	"github.com/palisade-go/palisade/telemetry"
)

var (
	workers  = flag.Int("workers", 8, "server workers")
	service  = flag.Duration("service", 5*time.Millisecond, "service time per request")
	deadline = flag.Duration("deadline", time.Second, "client deadline per request")
	warmup   = flag.Duration("warmup", 2*time.Second, "warm-up per cell, not measured")
	measure  = flag.Duration("measure", 3500*time.Millisecond, "measured time per cell")
	slow     = flag.Duration("slow", 25*time.Millisecond, "an answer slower than this counts as not accepted by the throttles")
	rowsFlag = flag.String("rows", "", "rows to run, comma-separated (default all): "+strings.Join(rowNames(), ","))
	loadFlag = flag.String("loads", "0.5,1,2,3", "offered loads, as multiples of capacity")
	halving  = flag.String("halving", "vegas,failsafe-limiter", "rows for the capacity-halving run (empty: none)")
	verbose  = flag.Bool("v", false, "log the limit of palisade's limiters during the halving run")
	svgPath  = flag.String("svg", "results/overload.svg", "where to write the plot")
)

// ---- the server ----

type server struct {
	pool           atomic.Pointer[chan struct{}]
	held, holdTime atomic.Int64 // requests served, and ns workers were held
	url            string
	srv            *http.Server
}

func startServer() *server {
	s := &server{}
	s.setWorkers(*workers)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s.url = "http://" + ln.Addr().String() + "/"
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	go s.srv.Serve(ln)
	return s
}

func (s *server) setWorkers(n int) {
	c := make(chan struct{}, n)
	s.pool.Store(&c)
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	pool := *s.pool.Load()
	select {
	case pool <- struct{}{}:
	case <-r.Context().Done():
		return // the client gave up while queued
	}
	start := time.Now()
	time.Sleep(*service)
	s.holdTime.Add(int64(time.Since(start)))
	s.held.Add(1)
	<-pool
	_, _ = io.WriteString(w, "ok")
}

// ---- the rows ----

var errStatus = errors.New("non-200 answer")
var errSlow = errors.New("slow answer")

type row struct {
	name string
	// slowFails makes a slow answer an error (errSlow) for the policy:
	// the throttles' sign of overload. For goodput it is still a success.
	slowFails bool
	// make builds a fresh policy for a cell; nil: call directly.
	make func() policy.Policy
}

// failsafePolicy adapts a failsafe-go executor to a policy.
type failsafePolicy struct{ ex failsafe.Executor[any] }

func (p failsafePolicy) Execute(ctx context.Context, fn policy.Func) error {
	return p.ex.WithContext(ctx).Run(func() error { return fn(ctx) })
}

func disabled() *telemetry.Telemetry { return telemetry.Disabled() }

func rows() []row {
	notAccepted := func(err error) bool { return err == nil } // errSlow, errStatus and timeouts are errors
	return []row{
		{"none", false, nil},
		{"bulkhead-4", false, func() policy.Policy {
			return bulkhead.Must(bulkhead.Config{MaxConcurrent: 4, Telemetry: disabled()})
		}},
		{"bulkhead-64", false, func() policy.Policy {
			return bulkhead.Must(bulkhead.Config{MaxConcurrent: 64, Telemetry: disabled()})
		}},
		{"vegas", false, func() policy.Policy {
			return limiter.Must(limiter.Config{Algorithm: limiter.Vegas, Telemetry: disabled()})
		}},
		{"gradient2", false, func() policy.Policy {
			return limiter.Must(limiter.Config{Algorithm: limiter.Gradient2, Telemetry: disabled()})
		}},
		{"aimd", false, func() policy.Policy {
			return limiter.Must(limiter.Config{Algorithm: limiter.AIMD, MaxHealthyLatency: *slow, Telemetry: disabled()})
		}},
		{"throttle", true, func() policy.Policy {
			return throttle.Must(throttle.Config{Window: 10 * time.Second, IsAccepted: notAccepted, Telemetry: disabled()})
		}},
		{"failsafe-limiter", false, func() policy.Policy {
			return failsafePolicy{failsafe.With[any](fslimiter.NewWithDefaults[any]())}
		}},
		{"failsafe-throttler", true, func() policy.Policy {
			return failsafePolicy{failsafe.With[any](fsthrottler.NewWithDefaults[any]())}
		}},
	}
}

func rowNames() []string {
	var names []string
	for _, r := range rows() {
		names = append(names, r.name)
	}
	return names
}

// ---- the client ----

var client = &http.Client{Transport: &http.Transport{
	MaxIdleConnsPerHost: 4096,
	IdleConnTimeout:     30 * time.Second,
}}

type result struct {
	began    time.Duration // when it was sent, since the run started
	at       time.Duration // when it ended, since the run started
	latency  time.Duration
	ok       bool // a 200 within the deadline
	rejected bool // refused by the policy
}

// call makes one request through p (nil: directly).
func call(ctx context.Context, p policy.Policy, slowFails bool, url string) (ok, rejected bool) {
	fn := func(ctx context.Context) error {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errStatus
		}
		if slowFails && time.Since(start) > *slow {
			return errSlow // a success for goodput; a sign of overload for the throttles
		}
		return nil
	}
	var err error
	if p == nil {
		err = fn(ctx)
	} else {
		err = p.Execute(ctx, fn)
	}
	if err == nil || errors.Is(err, errSlow) {
		return true, false
	}
	return false, errors.Is(err, policy.ErrRejected) || errors.Is(err, fslimiter.ErrExceeded) || errors.Is(err, fsthrottler.ErrExceeded)
}

// drive sends Poisson arrivals at rate per second through p for d, calling
// during(elapsed) between arrivals, and returns the results, waiting for
// every request to end.
func drive(p policy.Policy, slowFails bool, url string, rate float64, d time.Duration, during func(time.Duration)) []result {
	var mu sync.Mutex
	results := make([]result, 0, int(rate*d.Seconds()*1.1))
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(1, uint64(rate)))
	start := time.Now()
	next := time.Duration(0)
	for next < d {
		if wait := next - time.Since(start); wait > 200*time.Microsecond {
			time.Sleep(wait)
		}
		if during != nil {
			during(time.Since(start))
		}
		for next <= time.Since(start) && next < d {
			next += time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), *deadline)
				defer cancel()
				begin := time.Now()
				ok, rejected := call(ctx, p, slowFails, url)
				end := time.Now()
				mu.Lock()
				results = append(results, result{began: begin.Sub(start), at: end.Sub(start), latency: end.Sub(begin), ok: ok, rejected: rejected})
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return results
}

type stats struct {
	goodput       float64 // per second
	p50, p99      time.Duration
	rejected, n   int
	failed        int // neither ok nor rejected: timeouts, errors
	offeredPerSec float64
}

func summarize(rs []result, from, to time.Duration) stats {
	var lat []time.Duration
	var s stats
	sent := 0
	for _, r := range rs {
		if r.began >= from && r.began < to {
			sent++
		}
		if r.at < from || r.at >= to {
			continue
		}
		s.n++
		switch {
		case r.ok:
			lat = append(lat, r.latency)
		case r.rejected:
			s.rejected++
		default:
			s.failed++
		}
	}
	s.goodput = float64(len(lat)) / (to - from).Seconds()
	s.offeredPerSec = float64(sent) / (to - from).Seconds()
	if len(lat) > 0 {
		slices.Sort(lat)
		s.p50 = lat[len(lat)/2]
		s.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return s
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }

type cell struct {
	row  string
	load float64
	s    stats
}

func main() {
	flag.Parse()
	srv := startServer()
	defer srv.srv.Close()
	capacity := float64(*workers) / service.Seconds()

	selected := map[string]bool{}
	for _, n := range strings.Split(*rowsFlag, ",") {
		if n != "" {
			selected[n] = true
		}
	}
	var loads []float64
	for _, f := range strings.Split(*loadFlag, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "bad -loads value %q\n", f)
			os.Exit(2)
		}
		loads = append(loads, v)
	}

	// Unloaded latency: 10% of capacity, no protection.
	rs := drive(nil, false, srv.url, capacity/10, 2*time.Second, nil)
	unloaded := summarize(rs, 500*time.Millisecond, 2*time.Second)
	// What the server can really serve: a sleep of 5 ms holds a worker a
	// little longer than 5 ms.
	hold := time.Duration(srv.holdTime.Load() / max(srv.held.Load(), 1))
	measured := float64(*workers) / hold.Seconds()
	fmt.Printf("server: %d workers × %v = %.0f requests/s nominal; a worker is held %v per request: %.0f/s real capacity; unloaded p50 %s ms, p99 %s ms\n",
		*workers, *service, capacity, hold.Round(time.Microsecond), measured, ms(unloaded.p50), ms(unloaded.p99))
	fmt.Printf("client deadline %v; warm-up %v, measured %v per cell; %%cap = goodput / real capacity\n\n", *deadline, *warmup, *measure)

	fmt.Printf("| %-18s | %5s | %9s | %9s | %5s | %8s | %8s | %9s | %7s |\n", "policy", "load", "offered/s", "goodput/s", "%cap", "p50 ms", "p99 ms", "rejected", "failed")
	fmt.Printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 20), strings.Repeat("-", 7), strings.Repeat("-", 11), strings.Repeat("-", 11), strings.Repeat("-", 7), strings.Repeat("-", 10), strings.Repeat("-", 10), strings.Repeat("-", 11), strings.Repeat("-", 9))
	var cells []cell
	for _, r := range rows() {
		if len(selected) > 0 && !selected[r.name] {
			continue
		}
		for _, load := range loads {
			var p policy.Policy
			if r.make != nil {
				p = r.make()
			}
			total := *warmup + *measure
			rs := drive(p, r.slowFails, srv.url, load*capacity, total, nil)
			s := summarize(rs, *warmup, total)
			cells = append(cells, cell{r.name, load, s})
			fmt.Printf("| %-18s | %4.1f× | %9.0f | %9.0f | %4.0f%% | %8s | %8s | %8.1f%% | %6.1f%% |\n",
				r.name, load, s.offeredPerSec, s.goodput, 100*s.goodput/measured, ms(s.p50), ms(s.p99),
				100*float64(s.rejected)/float64(max(s.n, 1)), 100*float64(s.failed)/float64(max(s.n, 1)))
			time.Sleep(200 * time.Millisecond) // let the server's queue drain
		}
	}

	// Capacity halving: 1,200/s offered (0.75×), workers halved at 4s.
	var series []halvingSeries
	if *halving != "" {
		fmt.Printf("\ncapacity halving: %.0f requests/s offered; workers %d → %d at 4s (real capacity %.0f → %.0f/s)\n",
			0.75*capacity, *workers, *workers/2, measured, measured/2)
		for _, name := range strings.Split(*halving, ",") {
			i := slices.IndexFunc(rows(), func(r row) bool { return r.name == name })
			if i < 0 {
				fmt.Fprintf(os.Stderr, "unknown -halving row %q\n", name)
				os.Exit(2)
			}
			var p policy.Policy
			if mk := rows()[i].make; mk != nil {
				p = mk()
			}
			slowFails := rows()[i].slowFails
			srv.setWorkers(*workers)
			halved := false
			nextLog := time.Duration(0)
			rs := drive(p, slowFails, srv.url, 0.75*capacity, 10*time.Second, func(at time.Duration) {
				if !halved && at >= 4*time.Second {
					srv.setWorkers(*workers / 2)
					halved = true
				}
				if l, ok := p.(*limiter.Limiter); ok && *verbose && at >= nextLog {
					fmt.Fprintf(os.Stderr, "  %v: limit %d, in flight %d\n", at.Round(time.Millisecond), l.Limit(), l.InFlight())
					nextLog += 500 * time.Millisecond
				}
			})
			srv.setWorkers(*workers)
			hs := halvingSeries{row: name}
			recovered, firstUnder := time.Duration(-1), time.Duration(-1)
			for from := time.Duration(0); from < 10*time.Second; from += 250 * time.Millisecond {
				s := summarize(rs, from, from+250*time.Millisecond)
				hs.at = append(hs.at, from)
				hs.p99 = append(hs.p99, s.p99)
				hs.goodput = append(hs.goodput, s.goodput)
				if from >= 4*time.Second && firstUnder < 0 && s.p99 > 0 && s.p99 <= 2*unloaded.p99 {
					firstUnder = from + 250*time.Millisecond - 4*time.Second
				}
				if from >= 4*time.Second && s.p99 > 2*unloaded.p99 {
					recovered = -1
				} else if from >= 4*time.Second && recovered < 0 {
					recovered = from + 250*time.Millisecond - 4*time.Second
				}
			}
			after := summarize(rs, 6*time.Second, 10*time.Second)
			dur := func(d time.Duration) string {
				if d < 0 {
					return "never"
				}
				return d.String()
			}
			fmt.Printf("  %-18s p99 under 2× unloaded (%s ms) first %s after the halving, for good after %s; 6-10 s: goodput %.0f/s, p99 %s ms\n",
				name, ms(2*unloaded.p99), dur(firstUnder), dur(recovered), after.goodput, ms(after.p99))
			var line []string
			for i := 0; i < len(hs.p99); i += 2 {
				line = append(line, ms(max(hs.p99[i], hs.p99[min(i+1, len(hs.p99)-1)])))
			}
			fmt.Printf("  %-18s p99 per 500 ms (ms): %s\n", "", strings.Join(line, " "))
			series = append(series, hs)
		}
	}
	if err := writeSVG(*svgPath, cells, loads, capacity, measured, unloaded.p99, series); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("\nplot: %s\n", *svgPath)
	_ = math.Inf
}
