package redis_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy/breaker"
	palisaderedis "github.com/palisade-go/palisade/redis"
	"github.com/palisade-go/palisade/telemetry"
)

// The multi-process tests run the test binary again, as replicas: with
// replicaEnv set, TestMain calls replicaMain, which reads commands on
// stdin and answers on stdout, one line each.

// replica is the test's end of one replica process.
type replica struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// startReplicas starts n replica processes of the Redis at addr, stopped at
// the end of the test.
func startReplicas(t *testing.T, n int, addr string) []*replica {
	t.Helper()
	rs := make([]*replica, n)
	for i := range rs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), replicaEnv+"="+strconv.Itoa(i), "PALISADE_REDIS_ADDR="+addr)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		r := &replica{t: t, cmd: cmd, in: in, lines: make(chan string, 100)}
		go func() {
			defer close(r.lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				r.lines <- sc.Text()
			}
		}()
		t.Cleanup(func() {
			_ = in.Close() // the replica exits at the end of its input
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
		rs[i] = r
	}
	return rs
}

func (r *replica) send(format string, args ...any) {
	r.t.Helper()
	_, err := fmt.Fprintf(r.in, format+"\n", args...)
	require.NoError(r.t, err)
}

// expect returns the fields of the next line, which must start with word.
func (r *replica) expect(word string, within time.Duration) []string {
	r.t.Helper()
	select {
	case line, ok := <-r.lines:
		require.True(r.t, ok, "replica exited")
		f := strings.Fields(line)
		require.True(r.t, len(f) > 0 && f[0] == word, "want %q, got %q", word, line)
		return f[1:]
	case <-time.After(within):
		r.t.Fatalf("no %q from the replica within %v", word, within)
		return nil
	}
}

func atoi(t *testing.T, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}

// One replica's opening opens the other processes within 500 ms, p99,
// while they serve calls: a call every 100µs in half the rounds, and as
// many as two goroutines per process can make (saturating every core of
// the machine) in the other half.
func TestFleetOpeningPropagates(t *testing.T) {
	localRedis(t)
	rs := startReplicas(t, 3, "127.0.0.1:6379")
	const rounds = 40
	var delays []time.Duration
	byMode := map[string][]time.Duration{}
	for round := range rounds {
		key := uniqueKey(t)
		mode := "light"
		if round%2 == 1 {
			mode = "spin"
		}
		for _, r := range rs {
			r.send("breaker %s %s", key, mode)
		}
		for _, r := range rs {
			r.expect("ready", 5*time.Second)
		}
		time.Sleep(20 * time.Millisecond) // subscribed
		opener := rs[round%3]
		opener.send("trip")
		var at [3]int64
		for i, r := range rs {
			at[i] = atoi(t, r.expect("open", 10*time.Second)[0]) // the delay is the replicas' own timestamps; this only bounds the wait
		}
		for i, r := range rs {
			if r != opener {
				delays = append(delays, time.Duration(at[i]-at[round%3]))
				byMode[mode] = append(byMode[mode], time.Duration(at[i]-at[round%3]))
			}
		}
	}
	for mode, d := range byMode {
		slices.Sort(d)
		t.Logf("%s load: p50 %v, p99 %v over %d openings", mode, d[len(d)/2], d[len(d)*99/100], len(d))
	}
	slices.Sort(delays)
	p50, p99 := delays[len(delays)/2], delays[len(delays)*99/100]
	t.Logf("propagation over %d openings: p50 %v, p99 %v, max %v", len(delays), p50, p99, delays[len(delays)-1])
	assert.Less(t, p99, 500*time.Millisecond)
}

// Across three processes, each with HalfOpenCalls 1 against a dependency
// that stays down, the dependency sees one trial call per fleet opening:
// not one per replica.
func TestFleetTrialCalls(t *testing.T) {
	client := localRedis(t)
	rs := startReplicas(t, 3, "127.0.0.1:6379")
	key := uniqueKey(t)
	for _, r := range rs {
		// Idle: successful calls of a background load, still running
		// when the first break ends, would close the fleet and let the
		// trials below run through closed breakers.
		r.send("breaker %s idle", key)
	}
	for _, r := range rs {
		r.expect("ready", 5*time.Second)
	}
	time.Sleep(20 * time.Millisecond)
	rs[0].send("trip")
	for _, r := range rs {
		r.expect("open", 2*time.Second)
	}
	for _, r := range rs {
		r.send("trials 2500") // 2.5 s: the fleet reopens every 220–600 ms
	}
	var trials int64
	for _, r := range rs {
		f := r.expect("trials", 10*time.Second)
		trials += atoi(t, f[0])
	}
	episodes, err := client.HGet(context.Background(), "palisade:breaker:{"+key+"}:state", "ep").Int64()
	require.NoError(t, err)
	t.Logf("%d trial calls over %d fleet openings", trials, episodes)
	assert.LessOrEqual(t, trials, episodes, "one trial call per opening at most")
	assert.GreaterOrEqual(t, episodes, int64(4), "the fleet keeps probing: a failed trial call reopens it")
}

// replicaMain runs a replica: commands on stdin, answers on stdout.
func replicaMain(string) int {
	client := goredis.NewClient(&goredis.Options{Addr: os.Getenv("PALISADE_REDIS_ADDR"), ContextTimeoutEnabled: true})
	defer client.Close()
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	var b *palisaderedis.Breaker
	stopLoad := func() {}
	defer func() {
		stopLoad()
		if b != nil {
			_ = b.Close()
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "breaker": // breaker <key> <light|spin|idle>: a fresh shared breaker, under load or not
			stopLoad()
			if b != nil {
				_ = b.Close()
			}
			var err error
			b, err = palisaderedis.NewBreaker(palisaderedis.BreakerConfig{
				Client: client, Key: f[1],
				// A machine loaded by the rest of the test run must not
				// pass for a Redis outage, in which every replica runs
				// trial calls of its own, by design.
				StoreTimeout: time.Second,
				Breaker: breaker.Config{
					ConsecutiveFailures: 3, BreakDuration: 200 * time.Millisecond,
					SuccessThreshold: 1, HalfOpenCalls: 1,
					Telemetry: telemetry.Disabled(),
					OnStateChange: func(from, to breaker.State) {
						if from == breaker.Closed && to == breaker.Open {
							say("open %d", time.Now().UnixNano())
						}
					},
				},
			})
			if err != nil {
				say("error %v", err)
				return 1
			}
			stopLoad = func() {}
			if f[2] != "idle" {
				stopLoad = load(b, f[2] == "spin")
			}
			say("ready")
		case "trip":
			stopLoad()
			stopLoad = func() {}
			for b.State() == breaker.Closed {
				_ = b.Execute(context.Background(), fail)
			}
		case "trials": // trials <ms>: calls failing in 20ms, for ms; how many ran
			stopLoad()
			stopLoad = func() {}
			ms, _ := strconv.Atoi(f[1])
			var trials atomic.Int64
			trial := func(context.Context) error {
				trials.Add(1)
				time.Sleep(20 * time.Millisecond)
				return errDown
			}
			var wg sync.WaitGroup
			deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
			for range 3 {
				wg.Go(func() {
					for time.Now().Before(deadline) {
						if err := b.Execute(context.Background(), trial); errors.Is(err, breaker.ErrOpen) {
							time.Sleep(time.Millisecond)
						}
					}
				})
			}
			wg.Wait()
			say("trials %d", trials.Load())
		case "limit": // limit <key> <ms>: take permits for ms; granted, start, end
			ms, _ := strconv.Atoi(f[2])
			l, err := palisaderedis.NewLimiter(palisaderedis.LimiterConfig{
				Client: client, Key: f[1], Rate: 1000, Burst: 10, Telemetry: telemetry.Disabled(),
			})
			if err != nil {
				say("error %v", err)
				return 1
			}
			var granted atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			deadline := start.Add(time.Duration(ms) * time.Millisecond)
			for range 3 {
				wg.Go(func() {
					for time.Now().Before(deadline) {
						if l.Allow() {
							granted.Add(1)
						} else {
							time.Sleep(20 * time.Microsecond)
						}
					}
				})
			}
			wg.Wait()
			say("limit %d %d %d", granted.Load(), start.UnixNano(), time.Now().UnixNano())
			_ = l.Close()
		default:
			say("error unknown command %q", f[0])
			return 1
		}
	}
	return 0
}

// load calls b in the background until stopped, so that the replicas
// serve calls while openings propagate: about every 100µs, or (spin) from
// two goroutines as fast as they can.
func load(b *palisaderedis.Breaker, spin bool) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	loop := func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			_ = b.Execute(context.Background(), ok)
			if !spin {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	wg.Go(loop)
	if spin {
		wg.Go(loop)
	}
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}
