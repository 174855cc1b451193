package timeout_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

// maxWait is the longest deadline FuzzConfig waits for: synctest's clock
// starts in 2000 and its monotonic readings end in 2262.
const maxWait = 100 * 365 * 24 * time.Hour

// FuzzConfig checks New on any Config: it never panics, it refuses exactly
// the invalid ones with an error naming the field, and a valid one builds a
// Timeout that gives each call a deadline exactly Duration away and ends a
// call that outlives it with ErrTimeout. Time is synctest's, so a deadline
// of centuries costs nothing.
func FuzzConfig(f *testing.F) {
	f.Add("", int64(0), false)
	f.Add("db", int64(-1), true)
	f.Add("db", int64(1), false)
	f.Add("", int64(time.Second), true)
	f.Add("x", int64(-1<<63), false)
	f.Add("\x00\xff", int64(1<<63-1), true)
	f.Fuzz(func(t *testing.T, name string, duration int64, abandon bool) {
		cfg := timeout.Config{Name: name, Duration: time.Duration(duration), Abandon: abandon, Telemetry: telemetry.Disabled()}
		to, err := timeout.New(cfg)
		if cfg.Duration <= 0 {
			if err == nil {
				t.Fatalf("New(Duration: %v) accepted an invalid duration", cfg.Duration)
			}
			if to != nil {
				t.Fatalf("New returned a Timeout with its error %v", err)
			}
			if !strings.Contains(err.Error(), "Config.Duration") {
				t.Fatalf("error %q does not name Config.Duration", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("New(Duration: %v): %v", cfg.Duration, err)
		}
		wantName := name
		if wantName == "" {
			wantName = "timeout"
		}
		if to.Name() != wantName || to.Duration() != cfg.Duration {
			t.Fatalf("Name() = %q, Duration() = %v; want %q, %v", to.Name(), to.Duration(), wantName, cfg.Duration)
		}

		synctest.Test(t, func(t *testing.T) {
			// An error before the deadline comes back unchanged.
			errFn := errors.New("fn")
			start := time.Now()
			err := to.Execute(context.Background(), func(ctx context.Context) error {
				deadline, ok := ctx.Deadline()
				if !ok || deadline.Sub(start) != cfg.Duration {
					t.Errorf("deadline %v (set: %v), want %v away", deadline.Sub(start), ok, cfg.Duration)
				}
				return errFn
			})
			if err != errFn {
				t.Fatalf("error before the deadline came back as %v", err)
			}

			// A call that waits for its context ends exactly Duration later
			// with the policy's timeout. (synctest's clock stops in 2262:
			// longer deadlines are checked above only.)
			if cfg.Duration > maxWait {
				return
			}
			start = time.Now()
			err = to.Execute(context.Background(), func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			})
			if elapsed := time.Since(start); elapsed != cfg.Duration {
				t.Fatalf("call ended after %v, want %v", elapsed, cfg.Duration)
			}
			var te *timeout.Error
			if !errors.As(err, &te) || !errors.Is(err, timeout.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("call that outlived its deadline got %v", err)
			}
			if te.Policy != wantName || te.Duration != cfg.Duration || errors.Is(err, policy.ErrRejected) {
				t.Fatalf("timeout error %+v (rejection: %v)", te, errors.Is(err, policy.ErrRejected))
			}
		})
	})
}
