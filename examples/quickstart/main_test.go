package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// shortConfig squeezes the demo's story into a few seconds: a failing phase
// in which every request fails, and a short break, so that the breaker
// surely opens, and closes again once the server recovers. The attempts'
// timeout is generous, so that a busy machine does not make a recovered
// server look slow.
func shortConfig() config {
	cfg := defaultConfig()
	cfg.Duration = 4 * time.Second
	cfg.Tick = 500 * time.Millisecond
	cfg.FailureRate = 1
	cfg.Timeout = 250 * time.Millisecond
	cfg.BreakDuration = 150 * time.Millisecond
	return cfg
}

func TestRunBreakerOpensAndClosesAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, shortConfig(), &out))
	text := out.String()
	t.Log("\n" + text)

	assert.Contains(t, text, header)
	statusLines := regexp.MustCompile(`(?m)^\s+\d+\.\ds  (healthy|slow|failing|recovered) `).FindAllString(text, -1)
	assert.GreaterOrEqual(t, len(statusLines), 5, "one status line a tick")

	m := regexp.MustCompile(`breaker:  opened (once|\d+ times), closed again (once|\d+ times); now (\w+)`).FindStringSubmatch(text)
	require.NotNil(t, m, "the summary says what the breaker did")
	assert.Equal(t, "closed", m[3], "the breaker ends closed, the server having recovered")

	// The summary's figures come from the metrics the SDK collected.
	for _, name := range []string{
		"palisade.pipeline.duration", "palisade.breaker.status", "palisade.breaker.transitions",
		"palisade.rejected_calls", "palisade.retry.retries", "palisade.timeout.timeouts",
	} {
		assert.Contains(t, text, "  "+name+" [", "the summary lists %s", name)
	}
	assert.Regexp(t, `breaker.previous_state=closed breaker.state=open policy.name=users-api\s+[1-9]`, text)
	assert.Regexp(t, `breaker.previous_state=half_open breaker.state=closed policy.name=users-api\s+[1-9]`, text)
	assert.Regexp(t, `error.type=circuit_open policy.name=users-api policy.type=breaker\s+[1-9]`, text,
		"the open breaker rejected calls")

	// Each call is counted once: every line, and the summary, adds up.
	assertRowsAddUp(t, text)
	assertSummaryAddsUp(t, text)
}

// With -chaos on a healthy day, the injected faults alone open the
// breaker, and the summary counts them.
func TestRunWithChaosOpensTheBreakerOnAHealthyServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := shortConfig()
	cfg.Duration = 2 * time.Second
	cfg.FailureRate, cfg.SlowRate = 0, 0
	cfg.Chaos = 0.8
	var out bytes.Buffer
	require.NoError(t, run(ctx, cfg, &out))
	text := out.String()
	t.Log("\n" + text)

	assert.Contains(t, text, "→ chaos (failing 80% of attempts)")
	assert.Regexp(t, `palisade.chaos.injections \[`, text, "the summary lists the injections")
	assert.Regexp(t, `policy.name=users-api\s+[1-9]`, text)
	assert.Regexp(t, `breaker.previous_state=closed breaker.state=open policy.name=users-api\s+[1-9]`, text,
		"the injected faults opened the breaker though the server never failed")
	assertRowsAddUp(t, text)
	assertSummaryAddsUp(t, text)
}

func TestRunStopsWhenCancelled(t *testing.T) {
	cfg := shortConfig()
	cfg.Duration = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	require.NoError(t, run(ctx, cfg, &out))
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Contains(t, out.String(), "Summary, from the OpenTelemetry metrics", "an interrupted demo still prints its summary")
}

func TestConfigValidation(t *testing.T) {
	for name, mutate := range map[string]func(*config){
		"duration":     func(c *config) { c.Duration = 0 },
		"failure-rate": func(c *config) { c.FailureRate = 1.5 },
		"slow-rate":    func(c *config) { c.SlowRate = -0.1 },
		"rate":         func(c *config) { c.Rate = 0 },
		"chaos":        func(c *config) { c.Chaos = 2 },
	} {
		cfg := defaultConfig()
		mutate(&cfg)
		err := run(context.Background(), cfg, &bytes.Buffer{})
		if assert.Error(t, err, name) {
			assert.True(t, strings.Contains(err.Error(), name) || name == "duration", "%s: %v", name, err)
		}
	}
}

func TestStateWalk(t *testing.T) {
	snap := func(state string, tr map[string]int64) snapshot {
		return snapshot{state: state, transitions: tr}
	}
	prev := snap("closed", map[string]int64{})
	assert.Equal(t, "", stateWalk(prev, snap("closed", map[string]int64{})))
	assert.Equal(t, "closed → open", stateWalk(prev, snap("open", map[string]int64{"closed→open": 1})))
	assert.Equal(t, "open → half_open → closed → open",
		stateWalk(snap("open", map[string]int64{}), snap("open", map[string]int64{
			"closed→open": 1, "open→half_open": 1, "half_open→closed": 1,
		})))
	assert.Equal(t, "20 transitions", stateWalk(prev, snap("open", map[string]int64{"closed→open": 10, "open→half_open": 10})))
}
