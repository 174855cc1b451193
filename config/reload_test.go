package config_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/config"
	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/timeout"
)

const v1 = `
budgets:
  shared: {ratio: 0.1}
pipelines:
  api:
    policies:
      - retry: {max_attempts: 1, budget: shared}
      - breaker: {consecutive_failures: 1, window_size: 20}
      - timeout: {duration: 1s}
      - bulkhead: {max_concurrent: 5}
  other:
    policies:
      - timeout: {duration: 1s}
`

func reloads(t *testing.T, h *oteltest.Harness, outcome string) int64 {
	t.Helper()
	for _, dp := range h.Sum(t, semconv.ConfigReloads) {
		if v, _ := dp.Attributes.Value(semconv.ConfigOutcomeKey); v.AsString() == outcome {
			return dp.Value
		}
	}
	return -1
}

// A reload keeps what it does not change: the breaker with its state, the
// bulkhead, the untouched pipeline; it rebuilds what it changes.
func TestReloadKeepsUnchangedPolicies(t *testing.T) {
	h := oteltest.New()
	var seen []error
	p, err := config.Load(strings.NewReader(v1), config.WithTelemetry(h.Telemetry), config.WithEnviron(nil),
		config.WithOnReload(func(err error) { seen = append(seen, err) }))
	if err != nil {
		t.Fatal(err)
	}
	if reloads(t, h, "success") != 0 || reloads(t, h, "failure") != 0 {
		t.Fatal("palisade.config.reloads series do not start at 0")
	}
	api, other := p.Get("api"), p.Get("other")
	b := policyOf[*breaker.Breaker](t, p, "api", 1)
	bh := policyOf[*bulkhead.Bulkhead](t, p, "api", 3)
	_ = api.Execute(context.Background(), func(context.Context) error { return errors.New("down") })
	if b.State() != breaker.Open {
		t.Fatal("breaker not open")
	}

	// The timeout changes: the breaker, the bulkhead and the pipeline
	// "other" stay.
	if err := p.Reload(strings.NewReader(strings.Replace(v1, "duration: 1s}\n      - bulkhead", "duration: 5s}\n      - bulkhead", 1))); err != nil {
		t.Fatal(err)
	}
	if p.Get("api") == api || p.Get("other") != other {
		t.Error("want api rebuilt, other kept")
	}
	if policyOf[*breaker.Breaker](t, p, "api", 1) != b || b.State() != breaker.Open {
		t.Error("the unchanged breaker was not kept, open")
	}
	if policyOf[*bulkhead.Bulkhead](t, p, "api", 3) != bh {
		t.Error("the unchanged bulkhead was not kept")
	}
	_ = p.Get("api").Policies()[2].(*timeout.Timeout)

	// The same file again: everything is kept, pipelines included.
	api = p.Get("api")
	if err := p.Reload(strings.NewReader(strings.Replace(v1, "duration: 1s}\n      - bulkhead", "duration: 5s}\n      - bulkhead", 1))); err != nil {
		t.Fatal(err)
	}
	if p.Get("api") != api {
		t.Error("an unchanged pipeline was rebuilt")
	}

	// A changed window builds a new breaker, closed.
	if err := p.Reload(strings.NewReader(strings.Replace(v1, "window_size: 20", "window_size: 30", 1))); err != nil {
		t.Fatal(err)
	}
	if nb := policyOf[*breaker.Breaker](t, p, "api", 1); nb == b || nb.State() != breaker.Closed {
		t.Error("a breaker whose window changed was not rebuilt closed")
	}

	// A changed budget rebuilds the retry that shares it.
	r := p.Get("api").Policies()[0]
	if err := p.Reload(strings.NewReader(strings.Replace(v1, "ratio: 0.1", "ratio: 0.2", 1))); err != nil {
		t.Fatal(err)
	}
	if p.Get("api").Policies()[0] == r {
		t.Error("a retry whose budget changed was kept")
	}

	// A bad file changes nothing, and says why.
	api = p.Get("api")
	err = p.Reload(strings.NewReader(strings.Replace(v1, "duration: 1s}\n      - bulkhead", "duration: soon}\n      - bulkhead", 1)))
	var ce *config.Error
	if !errors.As(err, &ce) || p.Get("api") != api {
		t.Fatalf("bad reload: %v; want a *config.Error and the pipelines kept", err)
	}
	if reloads(t, h, "success") != 4 || reloads(t, h, "failure") != 1 {
		t.Errorf("reloads success=%d failure=%d, want 4 and 1", reloads(t, h, "success"), reloads(t, h, "failure"))
	}
	if len(seen) != 5 || seen[3] != nil || seen[4] != err {
		t.Errorf("WithOnReload saw %v", seen)
	}
}

// A handle follows reloads; while its pipeline is gone, calls fail.
func TestPolicyHandleFollowsReloads(t *testing.T) {
	p := load(t, v1)
	h := p.Policy("other")
	if h != p.Policy("other") {
		t.Error("two handles for one name")
	}
	deadline := func() time.Duration {
		var d time.Duration
		if err := h.Execute(context.Background(), func(ctx context.Context) error {
			dl, _ := ctx.Deadline()
			d = time.Until(dl)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := deadline(); d > time.Second || d < 900*time.Millisecond {
		t.Fatalf("deadline %v, want 1s", d)
	}
	if err := p.Reload(strings.NewReader(v1[:strings.Index(v1, "  other:")] + "  other:\n    policies:\n      - timeout: {duration: 100ms}\n")); err != nil {
		t.Fatal(err)
	}
	if d := deadline(); d > 100*time.Millisecond {
		t.Fatalf("deadline %v after the reload, want 100ms", d)
	}
	if err := p.Reload(strings.NewReader(v1[:strings.Index(v1, "  other:")])); err != nil {
		t.Fatal(err)
	}
	if err := h.Execute(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, config.ErrNoPipeline) {
		t.Fatalf("call through a removed pipeline: %v, want ErrNoPipeline", err)
	}
	v, err := policy.Get(context.Background(), p.Policy("api"), func(context.Context) (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Errorf("policy.Get through a handle = %v, %v", v, err)
	}
}

func TestCustomizer(t *testing.T) {
	notFound := errors.New("not found")
	var names []string
	p := load(t, v1, config.WithCustomizer("breaker", func(pipeline string, c *breaker.Config) {
		names = append(names, pipeline)
		c.IsIgnored = func(err error) bool { return errors.Is(err, notFound) }
	}))
	b := policyOf[*breaker.Breaker](t, p, "api", 1)
	_ = b.Execute(context.Background(), func(context.Context) error { return notFound })
	if b.State() != breaker.Closed || strings.Join(names, ",") != "api" {
		t.Errorf("breaker %v, customized for %v: want the customizer's IsIgnored in effect", b.State(), names)
	}

	_, err := config.Load(strings.NewReader(v1), config.WithEnviron(nil),
		config.WithCustomizer("breaker", func(string, *timeout.Config) {}))
	if err == nil || !strings.Contains(err.Error(), "a customizer for breaker takes *timeout.Config") {
		t.Errorf("mistyped customizer: %v", err)
	}
}

// Watch reloads a file swapped the way Kubernetes updates a ConfigMap
// volume: the file is a symbolic link through ..data, itself a link that
// is atomically replaced.
func TestWatchConfigMapSwap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		write := func(version, content string) {
			vdir := filepath.Join(dir, version)
			must(t, os.Mkdir(vdir, 0o755))
			must(t, os.WriteFile(filepath.Join(vdir, "pipelines.yaml"), []byte(content), 0o644))
			must(t, os.Symlink(version, filepath.Join(dir, "..data_tmp")))
			must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
		}
		write("v1", v1)
		path := filepath.Join(dir, "pipelines.yaml")
		must(t, os.Symlink(filepath.Join("..data", "pipelines.yaml"), path))

		var mu sync.Mutex
		var seen []error
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		p, err := config.Watch(ctx, path, config.WithEnviron(nil), config.WithInterval(time.Second),
			config.WithOnReload(func(err error) { mu.Lock(); seen = append(seen, err); mu.Unlock() }))
		if err != nil {
			t.Fatal(err)
		}
		b := policyOf[*breaker.Breaker](t, p, "api", 1)
		b.Isolate()

		time.Sleep(3 * time.Second) // unchanged: no reload
		synctest.Wait()
		write("v2", strings.Replace(v1, "max_concurrent: 5", "max_concurrent: 6", 1))
		time.Sleep(time.Second)
		synctest.Wait()
		if policyOf[*bulkhead.Bulkhead](t, p, "api", 3) == nil || policyOf[*breaker.Breaker](t, p, "api", 1) != b {
			t.Fatal("after the swap, want the breaker kept")
		}
		mu.Lock()
		if len(seen) != 1 || seen[0] != nil {
			t.Fatalf("reloads %v, want one success", seen)
		}
		mu.Unlock()
		bh := policyOf[*bulkhead.Bulkhead](t, p, "api", 3)

		write("v3", "pipelines: {api: {policies: [{timeout: {duration: nope}}]}}")
		time.Sleep(5 * time.Second) // reported once, not at every tick
		synctest.Wait()
		if policyOf[*bulkhead.Bulkhead](t, p, "api", 3) != bh {
			t.Fatal("a bad file replaced the pipelines")
		}
		must(t, os.Remove(filepath.Join(dir, "..data")))
		time.Sleep(3 * time.Second)
		synctest.Wait()
		mu.Lock()
		if len(seen) != 3 || seen[1] == nil || !strings.Contains(seen[1].Error(), "pipelines.yaml:1:") || seen[2] == nil {
			t.Errorf("reloads %v, want success, then the bad file's and the missing file's errors once each", seen)
		}
		mu.Unlock()
		cancel()
		must(t, p.Close())
		must(t, p.Close())
	})
}

func TestWatchStopsWithClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	must(t, os.WriteFile(path, []byte(v1), 0o644))
	p, err := config.Watch(context.Background(), path, config.WithEnviron(nil), config.WithInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	must(t, p.Close()) // goleak checks the goroutine ended

	if _, err := config.Watch(context.Background(), filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("Watch of a missing file: no error")
	}
	must(t, os.WriteFile(path, []byte("pipelines: 1"), 0o644))
	if _, err := config.Watch(context.Background(), path, config.WithEnviron(nil)); err == nil {
		t.Error("Watch of a bad file: no error")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// NewPipeline builds independent pipelines from a template of the file,
// for a registry.
func TestNewPipelineFromTemplate(t *testing.T) {
	p := load(t, v1)
	a, err := p.NewPipeline("api")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.NewPipeline("api")
	ba, bb := a.Policies()[1].(*breaker.Breaker), b.Policies()[1].(*breaker.Breaker)
	if ba == bb || ba == policyOf[*breaker.Breaker](t, p, "api", 1) {
		t.Fatal("NewPipeline shares a breaker")
	}
	if ba.Name() != "api" || a.Name() != "api" {
		t.Errorf("names %q, %q: want the template's", a.Name(), ba.Name())
	}
	_ = a.Execute(context.Background(), func(context.Context) error { return errors.New("down") })
	if ba.State() != breaker.Open || bb.State() != breaker.Closed {
		t.Error("the breakers of two pipelines from one template are not independent")
	}
	if _, err := p.NewPipeline("nope"); !errors.Is(err, config.ErrNoPipeline) {
		t.Errorf("NewPipeline of an unknown name: %v", err)
	}
}
