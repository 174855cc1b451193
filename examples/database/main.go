// Command database protects PostgreSQL queries with palisade.
//
// A UserStore looks users up with database/sql and the pgx driver, each
// query run through the pipeline retry → breaker → timeout. The demo then
// makes the database misbehave: another session locks the users table, so
// that every lookup waits on the lock until its timeout cancels it. The
// breaker sees the timeouts, opens, and fails the following lookups at once,
// without touching the database; once the lock is released a trial lookup
// succeeds and the breaker closes.
//
// It needs a PostgreSQL it may create a table in:
//
//	go run ./examples/database
//	go run ./examples/database -dsn 'postgres://me@db.internal:5432/app'
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// DefaultDSN is the PostgreSQL the demo uses unless told otherwise.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// table is the demo's table, created if missing.
const table = "palisade_example_users"

// User is a row of the users table.
type User struct {
	ID    int64
	Name  string
	Email string
}

// openDB opens a pool of connections to dsn. When a query's context ends,
// the driver asks the server to cancel the query, rather than only dropping
// the connection, so that a timed-out query does not go on running on the
// server (here: waiting on a lock).
func openDB(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	return db, nil
}

// UserStore reads users through a resilience pipeline.
type UserStore struct {
	db       *sql.DB
	pipeline *policy.Pipeline
	breaker  *breaker.Breaker
}

// storeConfig configures a UserStore.
type storeConfig struct {
	Timeout       time.Duration // the deadline of each query
	BreakDuration time.Duration // how long the breaker stays open
	Telemetry     *telemetry.Telemetry
}

// NewUserStore returns a store reading from db.
func NewUserStore(db *sql.DB, cfg storeConfig) *UserStore {
	b := breaker.Must(breaker.Config{
		Name:              "users-db",
		FailureRatio:      0.4,
		MinimumThroughput: 5,
		WindowSize:        20,
		BreakDuration:     cfg.BreakDuration,
		SuccessThreshold:  2,
		Telemetry:         cfg.Telemetry,
	})
	return &UserStore{
		db: db,
		pipeline: policy.NewPipeline("users-db",
			retry.Must(retry.Config{
				Name:        "users-db",
				MaxAttempts: 2,
				BackOff:     func() backoff.BackOff { return backoff.NewConstantBackOff(20 * time.Millisecond) },
				ShouldRetry: func(err error) bool { return !errors.Is(err, policy.ErrRejected) },
				Telemetry:   cfg.Telemetry,
			}),
			b,
			timeout.Must(timeout.Config{Name: "users-db", Duration: cfg.Timeout, Telemetry: cfg.Telemetry}),
		).WithTelemetry(cfg.Telemetry),
		breaker: b,
	}
}

// GetUser returns the user id, or nil if there is none.
func (s *UserStore) GetUser(ctx context.Context, id int64) (*User, error) {
	return policy.Get(ctx, s.pipeline, func(ctx context.Context) (*User, error) {
		var u User
		err := s.db.QueryRowContext(ctx, "SELECT id, name, email FROM "+table+" WHERE id = $1", id).
			Scan(&u.ID, &u.Name, &u.Email)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil // an answer, not a failure
		}
		if err != nil {
			return nil, err
		}
		return &u, nil
	})
}

// setUp creates and fills the demo's table.
func setUp(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		id    bigint PRIMARY KEY,
		name  text NOT NULL,
		email text NOT NULL)`)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO `+table+` (id, name, email) VALUES
		(1, 'Ada Lovelace', 'ada@example.com'),
		(2, 'Grace Hopper', 'grace@example.com'),
		(3, 'Barbara Liskov', 'barbara@example.com')
		ON CONFLICT (id) DO NOTHING`)
	return err
}

// lockTable makes the fault: another session takes an exclusive lock on
// the table, which every query then waits on, until release is called.
func lockTable(ctx context.Context, db *sql.DB) (release func(), err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		tx.Rollback()
		conn.Close()
		return nil, err
	}
	return func() {
		tx.Rollback()
		conn.Close()
	}, nil
}

// config is what one run of the demo does.
type config struct {
	DSN           string
	Lookups       int           // lookups to make
	FaultFrom     int           // the table is locked from this lookup on...
	FaultUntil    int           // ...until this one
	Pause         time.Duration // between two lookups
	Timeout       time.Duration
	BreakDuration time.Duration
}

func defaultConfig() config {
	return config{
		DSN:           DefaultDSN,
		Lookups:       40,
		FaultFrom:     8,
		FaultUntil:    24,
		Pause:         100 * time.Millisecond,
		Timeout:       200 * time.Millisecond,
		BreakDuration: time.Second,
	}
}

func main() {
	cfg := defaultConfig()
	flag.StringVar(&cfg.DSN, "dsn", cfg.DSN, "PostgreSQL connection string")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "database:", err)
		os.Exit(1)
	}
}

// run sets up the table, then looks users up, locking the table for a
// while, and prints each outcome to out.
func run(ctx context.Context, cfg config, out io.Writer) error {
	db, err := openDB(cfg.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	setupCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := setUp(setupCtx, db); err != nil {
		return fmt.Errorf("setting up %s: %w", table, err)
	}
	store := NewUserStore(db, storeConfig{Timeout: cfg.Timeout, BreakDuration: cfg.BreakDuration})

	var release func()
	defer func() {
		if release != nil {
			release()
		}
	}()
	for i := range cfg.Lookups {
		switch i {
		case cfg.FaultFrom:
			if release, err = lockTable(ctx, db); err != nil {
				return fmt.Errorf("locking %s: %w", table, err)
			}
			fmt.Fprintln(out, "-- another session locks the users table: queries wait on the lock")
		case cfg.FaultUntil:
			release()
			release = nil
			fmt.Fprintln(out, "-- the lock is released")
		}
		id := int64(1 + i%3)
		start := time.Now()
		u, err := store.GetUser(ctx, id)
		took := time.Since(start).Round(time.Millisecond)
		state := store.breaker.State()
		switch {
		case errors.Is(err, breaker.ErrOpen):
			// At once, without a query; or after a trial query, made
			// once the break was over, failed and reopened it.
			fmt.Fprintf(out, "lookup %2d: rejected: %v (%v) [breaker %s]\n", i+1, err, took, state)
		case errors.Is(err, timeout.ErrTimeout):
			fmt.Fprintf(out, "lookup %2d: timed out after %v [breaker %s]\n", i+1, took, state)
		case err != nil:
			fmt.Fprintf(out, "lookup %2d: error after %v: %v [breaker %s]\n", i+1, took, err, state)
		case u == nil:
			fmt.Fprintf(out, "lookup %2d: no user %d [breaker %s]\n", i+1, id, state)
		default:
			fmt.Fprintf(out, "lookup %2d: %s <%s> (%v) [breaker %s]\n", i+1, u.Name, u.Email, took, state)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.Pause):
		}
	}
	return nil
}
