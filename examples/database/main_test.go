package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/telemetry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testDSN is the PostgreSQL the tests use: $PALISADE_TEST_DSN, else the
// demo's default (127.0.0.1:5432, database test, user postgres).
func testDSN() string {
	if dsn := os.Getenv("PALISADE_TEST_DSN"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// requirePostgres skips the test when PostgreSQL cannot be reached — but
// fails it in CI (CI=true), where PostgreSQL is part of the machine.
func requirePostgres(t *testing.T) *sql.DB {
	t.Helper()
	db, err := openDB(testDSN())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		msg := "PostgreSQL is not reachable at " + testDSN() + " (set PALISADE_TEST_DSN to use another): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestRunBreakerOpensOnLockAndClosesAfter(t *testing.T) {
	requirePostgres(t)
	cfg := defaultConfig()
	cfg.DSN = testDSN()
	cfg.Lookups, cfg.FaultFrom, cfg.FaultUntil = 60, 4, 14
	cfg.Pause = 25 * time.Millisecond
	cfg.Timeout = 100 * time.Millisecond
	cfg.BreakDuration = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, cfg, &out))
	t.Log("\n" + out.String())

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	locked := indexOf(lines, "-- another session locks the users table: queries wait on the lock")
	released := indexOf(lines, "-- the lock is released")
	require.True(t, locked > 0 && released > locked)

	for _, l := range lines[:locked] {
		assert.Contains(t, l, "example.com>", "before the fault every lookup succeeds")
	}
	var timedOut, rejected int
	for _, l := range lines[locked:released] {
		if strings.Contains(l, "timed out after") {
			timedOut++
		}
		if strings.Contains(l, "rejected: palisade/breaker: users-db: circuit open") {
			rejected++
		}
	}
	assert.Positive(t, timedOut, "queries waiting on the lock time out")
	assert.Positive(t, rejected, "the breaker opens and rejects lookups without a query")

	last := lines[len(lines)-1]
	assert.Contains(t, last, "example.com>", "the last lookup succeeds")
	assert.Contains(t, last, "[breaker closed]", "recovery closed the breaker")
}

func indexOf(lines []string, s string) int {
	for i, l := range lines {
		if l == s {
			return i
		}
	}
	return -1
}

func TestGetUser(t *testing.T) {
	db := requirePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, setUp(ctx, db))
	store := NewUserStore(db, storeConfig{Timeout: time.Second, BreakDuration: time.Second, Telemetry: telemetry.Disabled()})

	u, err := store.GetUser(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, &User{ID: 2, Name: "Grace Hopper", Email: "grace@example.com"}, u)

	u, err = store.GetUser(ctx, 999)
	require.NoError(t, err, "no such user is an answer, not a failure")
	assert.Nil(t, u)
	assert.Zero(t, store.breaker.Metrics().Failures)
}
