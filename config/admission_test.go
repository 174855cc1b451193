package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/palisade-go/palisade/config"
	"github.com/palisade-go/palisade/policy/hedge"
	"github.com/palisade-go/palisade/policy/limiter"
	"github.com/palisade-go/palisade/policy/ratelimit"
	"github.com/palisade-go/palisade/policy/throttle"
)

func TestAdmissionKinds(t *testing.T) {
	p := load(t, `pipelines:
  api:
    policies:
      - ratelimit: {rate: 100, burst: 10, max_wait: 50ms}
      - throttle: {window: 1m, k: 1.5}
      - limiter: {algorithm: gradient2, initial_limit: 8, max_queue: 4}
`)
	rl := policyOf[*ratelimit.RateLimiter](t, p, "api", 0)
	if rl.Rate() != 100 || rl.Burst() != 10 || rl.Name() != "api" {
		t.Errorf("ratelimit: rate %v burst %d name %q", rl.Rate(), rl.Burst(), rl.Name())
	}
	policyOf[*throttle.Throttle](t, p, "api", 1)
	if l := policyOf[*limiter.Limiter](t, p, "api", 2); l.Limit() != 8 {
		t.Errorf("limiter limit %d, want 8", l.Limit())
	}

	_, err := config.Load(strings.NewReader(`pipelines:
  api:
    policies:
      - limiter: {algorithm: fast}
      - ratelimit: {burst: 2}
`), config.WithFileName("a.yaml"), config.WithEnviron(nil))
	var ce *config.Error
	if !errors.As(err, &ce) || len(ce.Problems) != 2 {
		t.Fatalf("Load: %v", err)
	}
	for i, want := range []string{
		`a.yaml:4:30: pipelines.api.policies[0].limiter.algorithm: palisade/limiter: Config.Algorithm must be vegas, gradient2 or aimd, got "fast"`,
		"a.yaml:5:20: pipelines.api.policies[1].ratelimit: palisade/ratelimit: Config.Rate must be > 0",
	} {
		if got := ce.Problems[i].String(); !strings.HasPrefix(got, want) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i, got, want)
		}
	}
}

func TestHedgeKind(t *testing.T) {
	p := load(t, `budgets:
  shared: {ratio: 0.2, min_extra: 5}
pipelines:
  api:
    policies:
      - hedge: {delay: 20ms, max_hedges: 2, budget: shared}
      - hedge: {quantile: 0.9}
`)
	if d, ok := policyOf[*hedge.Hedge](t, p, "api", 0).Delay(); !ok || d != 20*time.Millisecond {
		t.Errorf("fixed hedge delay %v, %v", d, ok)
	}
	if _, ok := policyOf[*hedge.Hedge](t, p, "api", 1).Delay(); ok {
		t.Error("a quantile hedge has a delay before any sample")
	}
}
