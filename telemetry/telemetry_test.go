package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/goleak"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type typed struct{}

func (typed) Error() string     { return "typed" }
func (typed) ErrorType() string { return "circuit_open" }

type plain struct{}

func (plain) Error() string { return "plain" }

func TestErrorType(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{typed{}, "circuit_open"},
		{fmt.Errorf("outer: %w", typed{}), "circuit_open"},
		{errors.Join(errors.New("x"), typed{}), "circuit_open"},
		{plain{}, "github.com/palisade-go/palisade/telemetry_test.plain"},
		{fmt.Errorf("outer: %w", plain{}), "github.com/palisade-go/palisade/telemetry_test.plain"},
		{errors.New("x"), "*errors.errorString"},
		{&fs.PathError{Op: "open", Err: fs.ErrNotExist}, "*fs.PathError"},
		{context.DeadlineExceeded, "context.deadlineExceededError"},
	} {
		assert.Equal(t, tc.want, telemetry.ErrorType(tc.err), "%#v", tc.err)
	}
}

func TestReporterForPoliciesOfOtherModules(t *testing.T) {
	h := oteltest.New()
	r := h.Telemetry.Reporter("mylimiter", "api", "my_limited")
	require.NotNil(t, r)

	series := h.Sum(t, "palisade.rejected_calls")
	require.Len(t, series, 1, "the declared error.type's series exists from construction")
	assert.Equal(t, int64(0), series[0].Value)

	span := h.InSpan(t, func(ctx context.Context) {
		r.Rejected(ctx, typed{})
		r.Rejected(ctx, plain{})
		r.Event(ctx, "mylimiter.shed", attribute.Int("mylimiter.level", 3))
	})
	byType := map[string]int64{}
	for _, dp := range h.Sum(t, "palisade.rejected_calls") {
		pt, _ := dp.Attributes.Value("palisade.policy.type")
		pn, _ := dp.Attributes.Value("palisade.policy.name")
		assert.Equal(t, "mylimiter", pt.AsString())
		assert.Equal(t, "api", pn.AsString())
		et, _ := dp.Attributes.Value("error.type")
		byType[et.AsString()] = dp.Value
	}
	assert.Equal(t, map[string]int64{
		"my_limited":   0,
		"circuit_open": 1,
		"github.com/palisade-go/palisade/telemetry_test.plain": 1,
	}, byType)

	events := span.Events()
	require.Len(t, events, 3)
	assert.Equal(t, "palisade.rejected", events[0].Name)
	assert.Contains(t, events[0].Attributes, attribute.String("error.type", "circuit_open"))
	assert.Equal(t, "mylimiter.shed", events[2].Name)
	assert.Contains(t, events[2].Attributes, attribute.String("palisade.policy.type", "mylimiter"))
	assert.Contains(t, events[2].Attributes, attribute.Int("mylimiter.level", 3))
}

func TestMeterAndTracerOfDisabledRecordNothing(t *testing.T) {
	d := telemetry.Disabled()
	_, span := d.Tracer().Start(context.Background(), "x")
	assert.False(t, span.IsRecording())
	c, err := d.Meter().Int64Counter("x")
	require.NoError(t, err)
	assert.False(t, c.Enabled(context.Background()))
}
