// Command targets reads `go test -bench` output (several -count runs) and
// prints palisade's figures against its peers and against the performance
// targets of docs/design.md, using the median of the runs of each benchmark. It
// exits 1 if a target is missed.
//
//	go test -run '^$' -bench . -benchmem -count 6 . | go run ./cmd/targets
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// result holds the runs of one benchmark.
type result struct {
	ns, allocs []float64
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:.*?\s([\d.]+) allocs/op)?`)

func parse(r io.Reader) (map[string]*result, error) {
	out := map[string]*result{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		res := out[m[1]]
		if res == nil {
			res = &result{}
			out[m[1]] = res
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		res.ns = append(res.ns, ns)
		if m[3] != "" {
			a, _ := strconv.ParseFloat(m[3], 64)
			res.allocs = append(res.allocs, a)
		}
	}
	return out, sc.Err()
}

// check is one target: palisade's benchmark against a reference one.
type check struct {
	what       string
	palisade   string
	reference  string  // "" for an allocation-only target
	maxRatio   float64 // palisade ns/op ÷ reference ns/op must stay ≤ this
	maxAllocs  float64 // palisade allocs/op must stay ≤ this (-1: no limit)
	minOfRatio bool    // ratio is informational only
	// floor, if set, is subtracted from both sides first: the ratio is
	// then palisade's overhead above the floor over the reference's.
	floor string
}

const (
	floor    = "BenchmarkFloor/impl=deadline"
	floorSDK = "BenchmarkFloor/impl=deadline+sdk-histogram"
)

var checks = []check{
	{"breaker closed, count window, vs gobreaker", "BenchmarkBreakerClosed/impl=palisade", "BenchmarkBreakerClosed/impl=gobreaker", 1.0 / 8, 0, false, ""},
	{"breaker closed, count window, vs failsafe-go", "BenchmarkBreakerClosed/impl=palisade", "BenchmarkBreakerClosed/impl=failsafe", 0, 0, true, ""},
	{"breaker closed, time window, vs gobreaker", "BenchmarkBreakerTimeWindow/impl=palisade", "BenchmarkBreakerTimeWindow/impl=gobreaker", 0.5, 0, false, ""},
	{"breaker open, rejecting, vs gobreaker", "BenchmarkBreakerOpen/impl=palisade", "BenchmarkBreakerOpen/impl=gobreaker", 0.5, 0, false, ""},
	{"breaker open, rejecting, vs failsafe-go", "BenchmarkBreakerOpen/impl=palisade", "BenchmarkBreakerOpen/impl=failsafe", 0, 0, true, ""},
	{"pipeline, telemetry off, vs the deadline floor", "BenchmarkPipeline/impl=palisade/telemetry=off", floor, 1.25, 4, false, ""},
	{"pipeline overhead above the floor, vs failsafe-go's", "BenchmarkPipeline/impl=palisade/telemetry=off", "BenchmarkPipeline/impl=failsafe/telemetry=off", 1.0 / 8, -1, false, floor},
	{"pipeline through Get, telemetry off, vs the floor", "BenchmarkPipeline/impl=palisade-get/telemetry=off", floor, 0, 5, true, ""},
	{"pipeline, SDK metrics, vs the floor with an SDK histogram", "BenchmarkPipeline/impl=palisade/telemetry=sdk-metrics", floorSDK, 1.25, -1, false, ""},
	{"pipeline, SDK metrics+traces, vs the floor with an SDK histogram", "BenchmarkPipeline/impl=palisade/telemetry=sdk-metrics+traces", floorSDK, 0, -1, true, ""},
	{"pipeline, telemetry off, vs failsafe-go", "BenchmarkPipeline/impl=palisade/telemetry=off", "BenchmarkPipeline/impl=failsafe/telemetry=off", 0, -1, true, ""},
	{"pipeline without timeout, telemetry off, vs failsafe-go", "BenchmarkPipelineNoTimeout/impl=palisade/telemetry=off", "BenchmarkPipelineNoTimeout/impl=failsafe/telemetry=off", 0, 0, true, ""},
	{"timeout alone vs failsafe-go", "BenchmarkTimeoutAlone/impl=palisade", "BenchmarkTimeoutAlone/impl=failsafe", 0, -1, true, ""},
	{"count window 10,000 vs 100", "BenchmarkBreakerWindowSize/window=count-10000", "BenchmarkBreakerWindowSize/window=count-100", 1.10, 0, false, ""},
	{"time window 1h vs 1s", "BenchmarkBreakerWindowSize/window=time-1h", "BenchmarkBreakerWindowSize/window=time-1s", 1.10, 0, false, ""},
	{"breaker closed, RunParallel vs single goroutine", "BenchmarkBreakerClosedParallel/impl=palisade", "BenchmarkBreakerClosed/impl=palisade", 1.5, 0, false, ""},
	{"pipeline, RunParallel vs single goroutine", "BenchmarkPipelineParallel/impl=palisade/telemetry=off", "BenchmarkPipeline/impl=palisade/telemetry=off", 1.5, 4, false, ""},
	{"ratelimit Allow vs x/time/rate", "BenchmarkRateLimitAllow/impl=palisade", "BenchmarkRateLimitAllow/impl=xrate", 0.5, 0, false, ""},
	{"ratelimit Allow, RunParallel, vs x/time/rate", "BenchmarkRateLimitAllowParallel/impl=palisade", "BenchmarkRateLimitAllowParallel/impl=xrate", 0.25, 0, false, ""},
	{"ratelimit Allow vs failsafe-go", "BenchmarkRateLimitAllow/impl=palisade", "BenchmarkRateLimitAllow/impl=failsafe", 0, 0, true, ""},
	{"ratelimit Allow, RunParallel, vs failsafe-go", "BenchmarkRateLimitAllowParallel/impl=palisade", "BenchmarkRateLimitAllowParallel/impl=failsafe", 0, 0, true, ""},
	{"limiter vs bulkhead", "BenchmarkLimiter/impl=palisade", "BenchmarkLimiter/impl=bulkhead", 2, 0, false, ""},
	{"limiter vs failsafe-go adaptivelimiter", "BenchmarkLimiter/impl=palisade", "BenchmarkLimiter/impl=failsafe", 0, 0, true, ""},
	{"limiter, RunParallel, vs bulkhead", "BenchmarkLimiterParallel/impl=palisade", "BenchmarkLimiterParallel/impl=bulkhead", 0, 0, true, ""},
	{"throttle vs failsafe-go adaptivethrottler", "BenchmarkThrottle/impl=palisade", "BenchmarkThrottle/impl=failsafe", 0, 0, true, ""},
}

// addedCheck is a target on what a policy adds to the function alone: the
// difference of the medians, in ns, rather than a ratio (the function
// alone costs next to nothing).
type addedCheck struct {
	what      string
	palisade  string
	direct    string  // the function alone
	maxAdded  float64 // ns; palisade ns/op − direct ns/op must stay ≤ this
	maxAllocs float64 // -1: no limit
}

var addedChecks = []addedCheck{
	{"hedge, fixed delay, no hedge fired, added", "BenchmarkHedgeNoHedge/impl=palisade/delay=fixed", "BenchmarkHedgeNoHedge/impl=direct", 1000, -1},
	{"hedge, quantile delay, no hedge fired, added", "BenchmarkHedgeNoHedge/impl=palisade/delay=quantile", "BenchmarkHedgeNoHedge/impl=direct", 1000, -1},
	{"chaos, call not enabled, added", "BenchmarkChaosDisabled/impl=palisade", "BenchmarkChaosDisabled/impl=direct", 5, 0},
}

// notRun prints the line of a target whose benchmarks are missing.
func notRun(what, why string) {
	fmt.Printf("%-58s %12s %12s %8s %8s  %s\n", what, "-", "-", "-", "-", why)
}

func main() {
	results, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	failed := false
	fmt.Printf("%-58s %12s %12s %8s %8s  %s\n", "target", "palisade", "reference", "ratio", "allocs", "verdict")
	for _, c := range checks {
		p, r := results[c.palisade], results[c.reference]
		if p == nil || r == nil {
			notRun(c.what, "not run")
			continue
		}
		pn, rn := median(p.ns), median(r.ns)
		ratio := pn / rn
		if c.floor != "" {
			f := results[c.floor]
			if f == nil {
				notRun(c.what, "floor not run")
				continue
			}
			fn := median(f.ns)
			if rn <= fn || pn < fn {
				fmt.Printf("%-58s %9.1f ns %9.1f ns %8s %8s  %s\n", c.what, pn, rn, "-", "-",
					"floor measured above a pipeline: a noisy run, rerun on a quiet machine")
				failed = true
				continue
			}
			ratio = (pn - fn) / (rn - fn)
		}
		allocs := median(p.allocs)
		var verdicts []string
		if !c.minOfRatio {
			if ratio <= c.maxRatio {
				verdicts = append(verdicts, fmt.Sprintf("ratio ≤ %.2f ok", c.maxRatio))
			} else {
				verdicts = append(verdicts, fmt.Sprintf("ratio > %.2f MISSED", c.maxRatio))
				failed = true
			}
		}
		if c.maxAllocs >= 0 {
			if allocs <= c.maxAllocs {
				verdicts = append(verdicts, fmt.Sprintf("allocs ≤ %g ok", c.maxAllocs))
			} else {
				verdicts = append(verdicts, fmt.Sprintf("allocs > %g MISSED", c.maxAllocs))
				failed = true
			}
		}
		if len(verdicts) == 0 {
			verdicts = append(verdicts, "information")
		}
		fmt.Printf("%-58s %9.1f ns %9.1f ns %8.3f %8g  %s\n", c.what, pn, rn, ratio, allocs, strings.Join(verdicts, ", "))
	}
	for _, c := range addedChecks {
		p, d := results[c.palisade], results[c.direct]
		if p == nil || d == nil {
			notRun(c.what, "not run")
			continue
		}
		pn, dn := median(p.ns), median(d.ns)
		allocs := median(p.allocs)
		verdict := fmt.Sprintf("added ≤ %g ns ok", c.maxAdded)
		if pn-dn > c.maxAdded {
			verdict = fmt.Sprintf("added > %g ns MISSED", c.maxAdded)
			failed = true
		}
		switch {
		case c.maxAllocs < 0:
		case allocs <= c.maxAllocs:
			verdict += fmt.Sprintf(", allocs ≤ %g ok", c.maxAllocs)
		default:
			verdict += fmt.Sprintf(", allocs > %g MISSED", c.maxAllocs)
			failed = true
		}
		fmt.Printf("%-58s %9.1f ns %9.1f ns %8s %8g  %s\n", c.what, pn, dn, fmt.Sprintf("+%.1f", pn-dn), allocs, verdict)
	}
	if failed {
		os.Exit(1)
	}
}
