package report_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/telemetry"
)

func TestStoreReporter(t *testing.T) {
	assert.Nil(t, report.NewStore(telemetry.Disabled(), "breaker", "b"))
	var nilStore *report.Store
	nilStore.Failed(true) // no-op

	h := oteltest.New()
	r := report.NewStore(h.Telemetry, "breaker", "payments")
	byType := func() map[string]int64 {
		got := map[string]int64{}
		for _, dp := range h.Sum(t, "palisade.store.errors") {
			typ, _ := dp.Attributes.Value("error.type")
			name, _ := dp.Attributes.Value("palisade.policy.name")
			pt, _ := dp.Attributes.Value("palisade.policy.type")
			require.Equal(t, "payments", name.AsString())
			require.Equal(t, "breaker", pt.AsString())
			got[typ.AsString()] = dp.Value
		}
		return got
	}
	assert.Equal(t, map[string]int64{"store_timeout": 0, "store_unavailable": 0}, byType(), "both series from construction")
	r.Failed(true)
	r.Failed(false)
	r.Failed(false)
	assert.Equal(t, map[string]int64{"store_timeout": 1, "store_unavailable": 2}, byType())
}
