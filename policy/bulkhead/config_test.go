package bulkhead_test

import (
	"math"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/telemetry"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg   bulkhead.Config
		field string
	}{
		{bulkhead.Config{MaxConcurrent: -1}, "Config.MaxConcurrent"},
		{bulkhead.Config{MaxConcurrent: math.MaxInt}, "Config.MaxConcurrent"},
		{bulkhead.Config{MaxQueue: -1}, "Config.MaxQueue"},
		{bulkhead.Config{MaxWait: -time.Second}, "Config.MaxWait"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			tc.cfg.Telemetry = telemetry.Disabled()
			b, err := bulkhead.New(tc.cfg)
			require.Error(t, err)
			assert.Nil(t, b)
			assert.Contains(t, err.Error(), tc.field)
			assert.Contains(t, err.Error(), "palisade/bulkhead:")
			// One style for every package: "palisade/<pkg>: Config.<Field> must be ..., got ...".
			assert.Regexp(t, `^palisade/bulkhead: `+regexp.QuoteMeta(tc.field)+` must be .+, got .+$`, err.Error())
			assert.PanicsWithError(t, err.Error(), func() { bulkhead.Must(tc.cfg) })
		})
	}
}

func TestNewAcceptsZeroAndLargeValues(t *testing.T) {
	b, err := bulkhead.New(bulkhead.Config{Name: "big", MaxConcurrent: 1 << 30, MaxQueue: 1 << 30, MaxWait: time.Hour, Telemetry: telemetry.Disabled()})
	require.NoError(t, err)
	assert.Equal(t, "big", b.Name())
	assert.Equal(t, 1<<30, b.MaxConcurrent())
	assert.NotPanics(t, func() { bulkhead.Must(bulkhead.Config{Telemetry: telemetry.Disabled()}) })
}
