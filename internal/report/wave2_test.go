package report_test

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

func TestWave2ReportersDisabledAreNil(t *testing.T) {
	d := telemetry.Disabled()
	assert.Nil(t, report.NewHedge(d, "h"))
	assert.Nil(t, report.NewFallback(d, "f"))
	assert.Nil(t, report.NewChaos(d, "c"))
	report.ObserveAbandoned(d, "t", new(int), func(*int) int64 { panic("never observed") })

	ctx := context.Background()
	var h *report.Hedge
	h.Hedging(ctx, 2, 0)
	h.Ended(ctx, 1, 1)
	var f *report.Fallback
	f.Used(ctx, errors.New("x"))
	var c *report.Chaos
	c.Fault(ctx)
	c.Latency(ctx)
}

func TestObserveAbandoned(t *testing.T) {
	h := oteltest.New()
	n := new(int64)
	*n = 3
	report.ObserveAbandoned(h.Telemetry, "t", n, func(n *int64) int64 { return *n })
	points := h.Sum(t, "palisade.timeout.abandoned")
	if assert.Len(t, points, 1) {
		assert.Equal(t, int64(3), points[0].Value)
	}
	runtime.KeepAlive(n) // observed weakly: it must live until collected
}
