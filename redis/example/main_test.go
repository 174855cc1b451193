package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if id := os.Getenv(replicaEnv); id != "" { // the test binary as a replica
		if err := runReplica(os.Stdout, id); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// The fleet's output shows replica 0's failures opening all three
// breakers, the others within a poll interval.
func TestFleet(t *testing.T) {
	const addr = "127.0.0.1:6379"
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err := c.Ping(ctx).Err()
	cancel()
	_ = c.Close()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Redis at %s (CI=true: Redis is required): %v", addr, err)
		}
		t.Skipf("no Redis at %s: %v", addr, err)
	}
	var out bytes.Buffer
	require.NoError(t, runFleet(&out, os.Args[0], addr))
	t.Log("\n" + out.String())
	for i := range replicas {
		assert.Contains(t, out.String(), "replica "+string(rune('0'+i))+": breaker closed -> open")
		assert.Contains(t, out.String(), "replica "+string(rune('0'+i))+": done:")
	}
	assert.Equal(t, 1, strings.Count(out.String(), " failed,")-strings.Count(out.String(), " 0 failed,"), "only replica 0 saw failures")
}
