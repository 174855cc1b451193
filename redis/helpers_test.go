package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// replicaEnv, when set, makes the test binary run as a replica of a
// multi-process test (see replica_test.go) instead of running tests.
const replicaEnv = "PALISADE_REDIS_REPLICA"

// quiet drops go-redis's log lines: the fault tests kill Redis on purpose,
// and its reconnection attempts would fill the output.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	goredis.SetLogger(quiet{})
	if role := os.Getenv(replicaEnv); role != "" {
		os.Exit(replicaMain(role))
	}
	goleak.VerifyTestMain(m)
}

// unavailable skips the test, or fails it under CI=true, where Redis must
// be there.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: Redis is required)", why)
	}
	t.Skip(why)
}

// newClient returns a client of the Redis at addr, closed at the end of the
// test, with ContextTimeoutEnabled as the policies require.
func newClient(t testing.TB, addr string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// localRedis returns a client of the Redis server at 127.0.0.1:6379.
func localRedis(t testing.TB) *goredis.Client {
	t.Helper()
	c := newClient(t, "127.0.0.1:6379")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		unavailable(t, "no Redis at 127.0.0.1:6379: "+err.Error())
	}
	return c
}

// uniqueKey returns a key name of its own for a test.
func uniqueKey(t testing.TB) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return "test-" + hex.EncodeToString(r[:])
}

// server is a private redis-server process, for fault tests.
type server struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

// startServer starts a private redis-server on a free port, stopped (by
// its PID) at the end of the test.
func startServer(t testing.TB) *server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		unavailable(t, "no redis-server binary: "+err.Error())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &server{t: t, port: port}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// start starts (or restarts) the server on its port and waits until it
// answers.
func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr(), 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d did not start: %v", s.port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills the server by its PID and waits for it.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// counter is a go-redis hook counting the commands sent.
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (c *counter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// eventually waits, polling, until cond holds or d has passed.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, msg)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
