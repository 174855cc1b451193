package config_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/palisade-go/palisade/config"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/policy/retry"
	"github.com/palisade-go/palisade/policy/timeout"
	"github.com/palisade-go/palisade/telemetry"
)

const full = `
defaults:
  breaker:
    consecutive_failures: 2
    break_duration: 1m
budgets:
  shared: {ratio: 0.5, min_extra: 1, window: 5s}
pipelines:
  users-api:
    policies:
      - retry:
          max_attempts: 2
          budget: shared
          backoff: {initial_interval: 1ms, no_jitter: true}
      - breaker:
          window_size: 20
      - timeout:
          duration: 250ms
      - bulkhead:
          max_concurrent: 7
  plain:
    policies:
  named:
    policies:
      - breaker: {name: custom}
`

func load(t *testing.T, src string, opts ...config.Option) *config.Pipelines {
	t.Helper()
	opts = append([]config.Option{config.WithTelemetry(telemetry.Disabled()), config.WithEnviron(nil)}, opts...)
	p, err := config.Load(strings.NewReader(src), opts...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p
}

// policyOf returns the i-th policy of pipeline name, as a T.
func policyOf[T any](t *testing.T, p *config.Pipelines, name string, i int) T {
	t.Helper()
	pl := p.Get(name)
	if pl == nil {
		t.Fatalf("no pipeline %s", name)
	}
	pols := pl.Policies()
	if i >= len(pols) {
		t.Fatalf("pipeline %s has %d policies", name, len(pols))
	}
	v, ok := pols[i].(T)
	if !ok {
		t.Fatalf("policy %d of %s is a %T", i, name, pols[i])
	}
	return v
}

func TestLoadBuildsThePipelines(t *testing.T) {
	p := load(t, full)
	if got := strings.Join(p.Names(), ","); got != "named,plain,users-api" {
		t.Fatalf("Names = %s", got)
	}
	if p.Get("nope") != nil {
		t.Error("Get of an unknown name is not nil")
	}
	if n := len(p.Get("plain").Policies()); n != 0 {
		t.Errorf("plain has %d policies, want 0", n)
	}
	policyOf[*retry.Retry](t, p, "users-api", 0)
	b := policyOf[*breaker.Breaker](t, p, "users-api", 1)
	if b.Name() != "users-api" {
		t.Errorf("breaker name %q, want the pipeline's", b.Name())
	}
	if policyOf[*breaker.Breaker](t, p, "named", 0).Name() != "custom" {
		t.Error("a breaker's name from the file is not used")
	}
	tm := policyOf[*timeout.Timeout](t, p, "users-api", 2)
	bh := policyOf[*bulkhead.Bulkhead](t, p, "users-api", 3)
	_ = tm

	// The defaults' consecutive_failures: 2 opens the breaker after two
	// failures; the retry makes two attempts per call.
	ctx := context.Background()
	fail := errors.New("down")
	calls := 0
	err := p.Get("users-api").Execute(ctx, func(ctx context.Context) error {
		calls++
		if bh.InFlight() != 1 {
			t.Errorf("bulkhead in flight %d inside the call", bh.InFlight())
		}
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) > 250*time.Millisecond || time.Until(dl) < 200*time.Millisecond {
			t.Errorf("deadline in %v, want the file's 250ms", time.Until(dl))
		}
		return fail
	})
	if !errors.Is(err, fail) || calls != 2 || b.State() != breaker.Open {
		t.Fatalf("err %v after %d calls, breaker %v; want two attempts and the breaker open", err, calls, b.State())
	}
	if d, ok := policy.RetryAfter(b.Execute(ctx, func(context.Context) error { return nil })); !ok || d < 59*time.Second {
		t.Errorf("RetryAfter %v, want the defaults' 1m break", d)
	}
}

func TestJSON(t *testing.T) {
	p := load(t, `{"pipelines": {"api": {"policies": [{"timeout": {"duration": "1s"}}, {"bulkhead": null}]}}}`)
	policyOf[*timeout.Timeout](t, p, "api", 0)
	policyOf[*bulkhead.Bulkhead](t, p, "api", 1)

	// Indented with tabs, as json.MarshalIndent(v, "", "\t") writes it.
	p = load(t, "{\n\t\"pipelines\": {\n\t\t\"a\": {\n\t\t\t\"policies\": [\n\t\t\t\t{\"timeout\": {\"duration\": \"1s\"}}\n\t\t\t]\n\t\t}\n\t}\n}\n")
	policyOf[*timeout.Timeout](t, p, "a", 0)

	_, err := config.Load(strings.NewReader(`{"pipelines": {"a": {"policies": [{"timeout": {"duration": "1s", "extra": 1}}]}}}`), config.WithEnviron(nil), config.WithFileName("p.json"))
	if err == nil || !strings.Contains(err.Error(), "p.json:1:66: pipelines.a.policies[0].timeout.extra: unknown field") {
		t.Errorf("unknown field in JSON: %v", err)
	}
}

// Anchors live under x- keys, which are otherwise ignored; merge keys
// merge, the mapping's own keys winning.
func TestAnchorsAndMergeKeys(t *testing.T) {
	p := load(t, `
x-base: &base {consecutive_failures: 1, break_duration: 2s}
pipelines:
  a:
    policies:
      - breaker: {<<: *base, break_duration: 3s}
      - breaker: *base
`)
	ctx := context.Background()
	for i, want := range []time.Duration{3 * time.Second, 2 * time.Second} {
		b := policyOf[*breaker.Breaker](t, p, "a", i)
		_ = b.Execute(ctx, func(context.Context) error { return errors.New("x") })
		if d, _ := policy.RetryAfter(b.Execute(ctx, func(context.Context) error { return nil })); d > want || d < want-time.Second/2 {
			t.Errorf("breaker %d: break %v, want %v", i, d, want)
		}
	}
}

func TestEveryProblemIsListed(t *testing.T) {
	src := `pipelines:
  api:
    policies:
      - breaker: {failure_ratio: 2, bogus: 1}
      - timeout:
      - retry: {budget: nope, max_attempts: x}
      - hedgehog: {}
      - timeout: {duration: fast}
  other: [1]
budgets:
  b: {ratio: -1}
extra: true
`
	_, err := config.Load(strings.NewReader(src), config.WithFileName("p.yaml"),
		config.WithEnviron([]string{"PALISADE_PIPELINES_API_TIMEOUT2_DURATION=soon", "PALISADE_PIPELINES_NOPE_TIMEOUT_DURATION=1s", "HOME=/"}))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load: %v, want a *config.Error", err)
	}
	want := []string{
		"p.yaml:4:34: pipelines.api.policies[0].breaker.failure_ratio: palisade/breaker: Config.FailureRatio must be in (0, 1]",
		"p.yaml:4:37: pipelines.api.policies[0].breaker.bogus: unknown field (fields: name, failure_ratio,",
		"p.yaml:5:9: pipelines.api.policies[1].timeout: palisade/timeout: Config.Duration must be > 0",
		`p.yaml:6:25: pipelines.api.policies[2].retry.budget: Config.Budget: no budget "nope"`,
		"p.yaml:6:45: pipelines.api.policies[2].retry.max_attempts: cannot unmarshal !!str `x` into int",
		"p.yaml:7:9: pipelines.api.policies[3].hedgehog: unknown kind of policy (kinds: ",
		"p.yaml:9:10: pipelines.other: want a mapping with policies, got a sequence",
		"p.yaml:11:14: budgets.b.ratio: palisade/budget: Config.Ratio must be a finite number >= 0, got -1",
		"p.yaml:12:1: extra: unknown field (want defaults, budgets or pipelines)",
		`env PALISADE_PIPELINES_API_TIMEOUT2_DURATION: pipelines.api.policies[4].timeout.duration: want a duration such as 250ms or 1m30s, got "soon"`,
		"env PALISADE_PIPELINES_NOPE_TIMEOUT_DURATION: matches no field of the file",
	}
	if len(ce.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(ce.Problems), len(want), err)
	}
	for i, w := range want {
		if i >= len(ce.Problems) || !strings.HasPrefix(ce.Problems[i].String(), w) {
			t.Errorf("problem %d:\n got %v\nwant %s…", i, ce.Problems[i], w)
		}
	}
	if !strings.HasPrefix(err.Error(), "palisade/config: p.yaml: 11 problems:\n\tp.yaml:4:34: ") {
		t.Errorf("Error() = %s", err)
	}
}

func TestStructuralErrors(t *testing.T) {
	for src, want := range map[string]string{
		"":                                   "the file is empty",
		"[1, 2]":                             "want a mapping with pipelines",
		"defaults: {}":                       "pipelines: missing",
		"pipelines: {a: {policies: {x: 1}}}": "want a sequence of policies",
		"pipelines: {a: {policies: [[1]]}}":  "want a mapping of one kind of policy",
		"pipelines: {a: {policies: [{timeout: {duration: 1s}, bulkhead: {}}]}}": "want a mapping of one kind of policy",
		"pipelines: {a: {policies: [{timeout: 5}]}}":                            "want a mapping of settings",
		"pipelines: {a: {x: 1}}":                                                "unknown field (want policies)",
		"pipelines: {a: {policies: []}, a: {policies: []}}":                     "duplicate key",
		"pipelines: {a: {policies: [{timeout: {duration: 1s, duration: 2s}}]}}": "duplicate key",
		"pipelines: {a: {policies: [{timeout: {duration: [1]}}]}}":              "want a duration",
		"pipelines: {a: {policies: [{bulkhead: {max_queue: [1]}}]}}":            "want a int, got a sequence",
		"defaults: {nope: {}}\npipelines: {}":                                   "defaults.nope: unknown kind",
		"pipelines: {a: {policies: [{retry: {backoff: {multiplier: 0.5}}}]}}":   "Config.BackOff.Multiplier must be >= 1",
		"pipelines: [\n":                      "<input>:1: did not find expected node content",
		"pipelines: {}\n---\npipelines: {}\n": "<input>:2:1: a second YAML document",
	} {
		_, err := config.Load(strings.NewReader(src), config.WithEnviron(nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%q) = %v, want an error with %q", src, err, want)
		}
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	p := load(t, full, config.WithEnviron([]string{
		"PALISADE_PIPELINES_USERS_API_TIMEOUT_DURATION=20ms",
		"PALISADE_PIPELINES_USERS_API_RETRY_MAX_ATTEMPTS=3",
		"PALISADE_PIPELINES_USERS_API_RETRY_BACKOFF_INITIAL_INTERVAL=2ms",
		"PALISADE_PIPELINES_USERS_API_BULKHEAD_MAX_CONCURRENT=1",
		"PALISADE_DEFAULTS_BREAKER_CONSECUTIVE_FAILURES=3",
		"PALISADE_DEFAULTS_TIMEOUT_NAME=from-env", // a kind without defaults in the file
		"PALISADE_BUDGETS_SHARED_MIN_EXTRA=10",
		"OTHER=1",
	}))
	b := policyOf[*breaker.Breaker](t, p, "users-api", 1)
	calls := 0
	_ = p.Get("users-api").Execute(context.Background(), func(ctx context.Context) error {
		calls++
		if dl, _ := ctx.Deadline(); time.Until(dl) > 20*time.Millisecond {
			t.Errorf("deadline in %v, want the environment's 20ms", time.Until(dl))
		}
		return errors.New("down")
	})
	if calls != 3 || b.State() != breaker.Open {
		t.Errorf("%d attempts, breaker %v: want 3 attempts (max_attempts from the environment) opening it at 3 failures (defaults from the environment)", calls, b.State())
	}
	if n := policyOf[*timeout.Timeout](t, p, "users-api", 2); n == nil {
		t.Fatal("no timeout")
	}

	_, err := config.Load(strings.NewReader(full), config.WithEnviron([]string{
		"PALISADE_PIPELINES_PLAIN_TIMEOUT_DURATION=1s", // plain has no timeout
		"PALISADE_BUDGETS_OTHER_RATIO=1",
		"PALISADE_PIPELINES_USERS_API_BREAKER_FAILURE_RATIO=7",
	}))
	for _, want := range []string{
		"env PALISADE_PIPELINES_PLAIN_TIMEOUT_DURATION: matches no field",
		"env PALISADE_BUDGETS_OTHER_RATIO: matches no field",
		"env PALISADE_PIPELINES_USERS_API_BREAKER_FAILURE_RATIO: pipelines.users-api.policies[1].breaker.failure_ratio: palisade/breaker: Config.FailureRatio",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load with bad variables: %v\nwant %s", err, want)
		}
	}
}

// Aliases that expand exponentially are refused, not followed for ever.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-0: &a0 {duration: 1s}\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "x-%d: &a%d {<<: [*a%d, *a%d]}\n", i, i, i-1, i-1)
	}
	b.WriteString("pipelines: {a: {policies: [{timeout: *a30}]}}\n")
	done := make(chan error)
	go func() {
		_, err := config.Load(strings.NewReader(b.String()), config.WithEnviron(nil))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "expands, through its aliases") {
			t.Errorf("Load: %v, want the expansion refused", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Load of an alias bomb did not end")
	}
}
