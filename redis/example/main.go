// Command example runs a fleet of three replicas of a small service — three
// processes: this program runs itself again for each — that share a
// circuit breaker and a rate limit through Redis. At 300ms, replica 0's
// dependency starts failing: its breaker opens, and the opening reaches
// the other two, whose own calls were all succeeding.
//
//	go run ./redis/example [-redis 127.0.0.1:6379]
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	palisaderedis "github.com/palisade-go/palisade/redis"
	"github.com/palisade-go/palisade/telemetry"
)

// The environment of a replica process.
const (
	replicaEnv = "FLEET_REPLICA" // its number
	keyEnv     = "FLEET_KEY"     // the fleet's key in Redis
	startEnv   = "FLEET_START"   // when the fleet started, Unix ns
	addrEnv    = "FLEET_REDIS"   // Redis's address
)

const (
	replicas = 3
	runFor   = 1200 * time.Millisecond
	failAt   = 300 * time.Millisecond // when replica 0's dependency fails
	// startDelay leaves the processes time to start.
	startDelay = time.Second
)

func main() {
	if id := os.Getenv(replicaEnv); id != "" {
		if err := runReplica(os.Stdout, id); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	addr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	flag.Parse()
	exe, err := os.Executable()
	if err == nil {
		err = runFleet(os.Stdout, exe, *addr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// runFleet starts the replicas (running exe) and prints what they print,
// each line whole.
func runFleet(w io.Writer, exe, addr string) error {
	var r [6]byte
	_, _ = rand.Read(r[:])
	key := "example-" + hex.EncodeToString(r[:])
	fmt.Fprintf(w, "fleet: %d replicas share breaker and rate limit %q through %s\n", replicas, key, addr)
	// The replicas start together, once every process is up.
	start := strconv.FormatInt(time.Now().Add(startDelay).UnixNano(), 10)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var cmds []*exec.Cmd
	for i := range replicas {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), replicaEnv+"="+strconv.Itoa(i), keyEnv+"="+key, startEnv+"="+start, addrEnv+"="+addr)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds = append(cmds, cmd)
		wg.Go(func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				mu.Lock()
				fmt.Fprintln(w, sc.Text())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var errs []error
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("replica %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// runReplica is one replica: for runFor, a call every 2ms (500/s) through
// the shared breaker, then a rate limit of 1000/s for the fleet, to a
// dependency that, for replica 0, fails from failAt on.
func runReplica(w io.Writer, id string) error {
	n, _ := strconv.Atoi(id)
	startNs, _ := strconv.ParseInt(os.Getenv(startEnv), 10, 64)
	start := time.Unix(0, startNs)
	since := func() int64 { return time.Since(start).Milliseconds() }
	say := func(format string, args ...any) {
		fmt.Fprintf(w, "%5dms replica %d: "+format+"\n", append([]any{since(), n}, args...)...)
	}

	client := goredis.NewClient(&goredis.Options{Addr: os.Getenv(addrEnv), ContextTimeoutEnabled: true})
	defer client.Close()
	key := os.Getenv(keyEnv)
	b, err := palisaderedis.NewBreaker(palisaderedis.BreakerConfig{
		Client: client,
		Key:    key,
		Breaker: breaker.Config{
			Name:                "payments",
			ConsecutiveFailures: 5,
			BreakDuration:       5 * time.Second,
			Telemetry:           telemetry.Disabled(),
			OnStateChange: func(from, to breaker.State) {
				say("breaker %v -> %v", from, to)
			},
		},
	})
	if err != nil {
		return err
	}
	defer b.Close()
	limit, err := palisaderedis.NewLimiter(palisaderedis.LimiterConfig{
		Client: client, Key: key, Rate: 1000, Burst: 10, Telemetry: telemetry.Disabled(),
	})
	if err != nil {
		return err
	}
	defer limit.Close()
	// The breaker outside: calls it rejects take no permit of the limit,
	// and the limit's rejections (which match policy.ErrRejected) never
	// count as the dependency's failures.
	pipeline := policy.NewPipeline("payments", b, limit).WithTelemetry(telemetry.Disabled())

	dependency := func(context.Context) error {
		if n == 0 && time.Since(start) >= failAt {
			return errors.New("payment provider unreachable")
		}
		return nil
	}
	time.Sleep(time.Until(start))
	say("serving")
	var ok, failed, open, limited int
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < runFor {
		<-tick.C
		switch err := pipeline.Execute(context.Background(), dependency); {
		case err == nil:
			ok++
		case errors.Is(err, breaker.ErrOpen):
			open++
		case errors.Is(err, palisaderedis.ErrRateLimited):
			limited++
		default:
			failed++
		}
	}
	say("done: %d ok, %d failed, %d rejected by the open breaker, %d rate limited", ok, failed, open, limited)
	return nil
}
