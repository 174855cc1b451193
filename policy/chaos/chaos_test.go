package chaos_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/chaos"
	"github.com/palisade-go/palisade/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errInjected = errors.New("injected 503")

func counting(n *int) policy.Func {
	return func(context.Context) error { *n++; return nil }
}

func TestOffUnlessEnabled(t *testing.T) {
	c := chaos.Must(chaos.Config{Probability: 1, Fault: errInjected, Telemetry: telemetry.Disabled()})
	ran := 0
	assert.NoError(t, c.Execute(context.Background(), counting(&ran)))
	assert.Equal(t, 1, ran)

	ctx := chaos.Enable(context.Background())
	assert.True(t, chaos.Enabled(ctx))
	assert.Same(t, errInjected, c.Execute(ctx, counting(&ran)), "the fault, as it is")
	assert.Equal(t, 1, ran, "an injected fault replaces the call")
	assert.Equal(t, chaos.DefaultName, c.Name())
	assert.Equal(t, policy.SequentialAttempts, c.AttemptMode())
}

func TestBaggageEnablesAcrossServices(t *testing.T) {
	c := chaos.Must(chaos.Config{Probability: 1, Fault: errInjected, Telemetry: telemetry.Disabled()})
	// The edge tags a request...
	edge := chaos.EnableWithBaggage(context.Background())
	header := http.Header{}
	propagation.Baggage{}.Inject(edge, propagation.HeaderCarrier(header))
	assert.Contains(t, header.Get("baggage"), "palisade.chaos=on")

	// ...and a service downstream, extracting the baggage, injects chaos.
	downstream := propagation.Baggage{}.Extract(context.Background(), propagation.HeaderCarrier(header))
	assert.True(t, chaos.Enabled(downstream))
	ran := 0
	assert.Same(t, errInjected, c.Execute(downstream, counting(&ran)))
	assert.Equal(t, 0, ran)

	// Other values, or other members, enable nothing.
	m, err := baggage.NewMemberRaw(chaos.BaggageKey, "off")
	require.NoError(t, err)
	b, err := baggage.New(m)
	require.NoError(t, err)
	assert.False(t, chaos.Enabled(baggage.ContextWithBaggage(context.Background(), b)))
}

func TestCustomEnabled(t *testing.T) {
	type tenant struct{}
	c := chaos.Must(chaos.Config{
		Probability: 1, Fault: errInjected, Telemetry: telemetry.Disabled(),
		Enabled: func(ctx context.Context) bool { return ctx.Value(tenant{}) == "canary" },
	})
	ran := 0
	assert.NoError(t, c.Execute(chaos.Enable(context.Background()), counting(&ran)), "the default rule is replaced")
	assert.Same(t, errInjected, c.Execute(context.WithValue(context.Background(), tenant{}, "canary"), counting(&ran)))
}

func TestProbability(t *testing.T) {
	c := chaos.Must(chaos.Config{Probability: 0.25, Fault: errInjected, Telemetry: telemetry.Disabled()})
	ctx := chaos.Enable(context.Background())
	const n = 20000
	faults := 0
	for range n {
		if c.Execute(ctx, func(context.Context) error { return nil }) != nil {
			faults++
		}
	}
	// 0.25 × 20000 = 5000, standard deviation ~61: ±400 is 6.5 of them.
	assert.InDelta(t, 5000, faults, 400)
}

func TestLatencyWaitsThenRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		c := chaos.Must(chaos.Config{Probability: 1, Latency: time.Second, Telemetry: h.Telemetry})
		ran := 0
		start := time.Now()
		span := h.InSpan(t, func(ctx context.Context) {
			assert.NoError(t, c.Execute(chaos.Enable(ctx), counting(&ran)))
		})
		assert.Equal(t, time.Second, time.Since(start))
		assert.Equal(t, 1, ran)
		require.Len(t, span.Events(), 1)
		assert.Equal(t, "palisade.chaos", span.Events()[0].Name)

		kinds := map[string]int64{}
		for _, dp := range h.Sum(t, "palisade.chaos.injections") {
			k, _ := dp.Attributes.Value("palisade.chaos.kind")
			kinds[k.AsString()] = dp.Value
		}
		assert.Equal(t, map[string]int64{"fault": 0, "latency": 1}, kinds, "both series exist from construction")

		// The caller's context ends during the wait: its error, fn not run.
		ctx, cancel := context.WithTimeout(chaos.Enable(context.Background()), 300*time.Millisecond)
		defer cancel()
		start = time.Now()
		assert.Equal(t, context.DeadlineExceeded, c.Execute(ctx, counting(&ran)))
		assert.Equal(t, 300*time.Millisecond, time.Since(start))
		assert.Equal(t, 1, ran)
	})
}

func TestLatencyThenFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := oteltest.New()
		c := chaos.Must(chaos.Config{Probability: 1, Latency: time.Second, Fault: errInjected, Telemetry: h.Telemetry})
		ran := 0
		start := time.Now()
		assert.Same(t, errInjected, c.Execute(chaos.Enable(context.Background()), counting(&ran)))
		assert.Equal(t, time.Second, time.Since(start))
		assert.Equal(t, 0, ran)
		assert.Equal(t, int64(2), h.Total(t, "palisade.chaos.injections"))
	})
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []struct {
		cfg   chaos.Config
		field string
	}{
		{chaos.Config{Fault: errInjected}, "Config.Probability"},
		{chaos.Config{Probability: 1.5, Fault: errInjected}, "Config.Probability"},
		{chaos.Config{Probability: -1, Fault: errInjected}, "Config.Probability"},
		{chaos.Config{Probability: 1, Latency: -time.Second}, "Config.Latency"},
		{chaos.Config{Probability: 1}, "Config.Fault or Config.Latency"},
	} {
		_, err := chaos.New(c.cfg)
		require.Error(t, err, "%+v", c.cfg)
		assert.Contains(t, err.Error(), c.field)
		assert.Panics(t, func() { chaos.Must(c.cfg) })
	}
}
