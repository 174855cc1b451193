package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/timeout"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// writeFile replaces the file at path atomically, as editors and
// Kubernetes do, so that the watcher never reads half a file.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Editing the file changes the timeout of the next calls, and keeps the
// breaker — the same one, still open — whose settings did not change.
func TestEditTakesEffectWithBreakerIntact(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "pipelines.yaml")
	file := strings.Replace(string(defaultPipelines), "break_duration: 2s", "break_duration: 1s", 1)
	writeFile(t, path, file)

	be, err := startBackend(100 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	var log bytes.Buffer
	out := &syncWriter{w: &log}
	svc, err := NewService(ctx, path, be.URL, 10*time.Millisecond, out)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()

	// 50ms against a backend taking 100ms: three timeouts open the breaker.
	for i := range 3 {
		if _, err := svc.Stock(ctx, "widget"); !errors.Is(err, timeout.ErrTimeout) {
			t.Fatalf("lookup %d: %v, want a timeout", i, err)
		}
	}
	b := svc.Breaker()
	if b.State() != breaker.Open {
		t.Fatalf("breaker %v after three timeouts, want open", b.State())
	}
	before := svc.pipelines.Get("inventory")

	writeFile(t, path, strings.Replace(file, "duration: 50ms", "duration: 500ms", 1))
	for svc.pipelines.Get("inventory") == before {
		if ctx.Err() != nil {
			t.Fatal("the edit was not picked up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if svc.Breaker() != b || b.State() != breaker.Open {
		t.Fatalf("after the reload: breaker %p (was %p), %v; want the same breaker, still open", svc.Breaker(), b, b.State())
	}
	_, err = svc.Stock(ctx, "widget")
	wait, ok := policy.RetryAfter(err)
	if !errors.Is(err, breaker.ErrOpen) || !ok {
		t.Fatalf("lookup after the reload: %v, want the open breaker's rejection", err)
	}

	// Once the break has passed, the trial calls succeed under the new
	// timeout and close the breaker.
	time.Sleep(wait)
	for i := range breaker.DefaultSuccessThreshold {
		stock, err := svc.Stock(ctx, "widget")
		if err != nil || stock != "widget: 42 in stock" {
			t.Fatalf("trial lookup %d: %q, %v; want the stock under the new 500ms timeout", i, stock, err)
		}
	}
	if b.State() != breaker.Closed {
		t.Errorf("breaker %v after the trial calls, want closed", b.State())
	}

	// A bad edit keeps the running pipelines.
	current := svc.pipelines.Get("inventory")
	writeFile(t, path, strings.Replace(file, "duration: 50ms", "duration: fast", 1))
	for !strings.Contains(logged(out), "reload failed") {
		if ctx.Err() != nil {
			t.Fatal("the bad edit was not reported")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if svc.pipelines.Get("inventory") != current {
		t.Error("a bad file replaced the pipelines")
	}
	if !strings.Contains(logged(out), `pipelines.yaml:17:21: pipelines.inventory.policies[1].timeout.duration: want a duration`) {
		t.Errorf("the failure does not say where:\n%s", logged(out))
	}
}

func logged(w *syncWriter) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.(*bytes.Buffer).String()
}

// The program runs with its own copy of the file, and ends with its
// context.
func TestRun(t *testing.T) {
	cfg := defaultConfig()
	cfg.Calls, cfg.Pause, cfg.Interval = 5, 10*time.Millisecond, 10*time.Millisecond
	var out bytes.Buffer
	if err := run(context.Background(), cfg, &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"pipelines from ", "lookup 1: timed out (breaker closed)", "lookup 4: rejected, breaker open"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
