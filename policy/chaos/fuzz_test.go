package chaos_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/policy/chaos"
	"github.com/palisade-go/palisade/telemetry"
)

// FuzzConfig checks New on any Config: it never panics, refuses exactly
// the invalid ones naming the field, and a valid one leaves disabled calls
// alone and, at probability 1, gives an enabled call its latency and fault.
func FuzzConfig(f *testing.F) {
	f.Add("", 0.0, true, int64(0))
	f.Add("c", 1.0, false, int64(time.Second))
	f.Add("c", 0.5, true, int64(-1))
	f.Add("c", 2.0, true, int64(1))
	f.Fuzz(func(t *testing.T, name string, probability float64, withFault bool, latency int64) {
		errFault := errors.New("fault")
		cfg := chaos.Config{Name: name, Probability: probability, Latency: time.Duration(latency), Telemetry: telemetry.Disabled()}
		if withFault {
			cfg.Fault = errFault
		}
		c, err := chaos.New(cfg)
		var field string
		switch {
		case !(probability > 0 && probability <= 1):
			field = "Config.Probability"
		case latency < 0:
			field = "Config.Latency"
		case !withFault && latency == 0:
			field = "Config.Fault"
		}
		if field != "" {
			if err == nil || c != nil || !strings.Contains(err.Error(), field) {
				t.Fatalf("New(%+v) = %v, %v; want an error naming %s", cfg, c, err, field)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		ran := 0
		fn := func(context.Context) error { ran++; return nil }
		if err := c.Execute(context.Background(), fn); err != nil || ran != 1 {
			t.Fatalf("disabled call: %v, ran %d", err, ran)
		}
		if probability != 1 || latency > int64(100*365*24*time.Hour) {
			return
		}
		synctest.Test(t, func(t *testing.T) {
			ran = 0
			start := time.Now()
			err := c.Execute(chaos.Enable(context.Background()), fn)
			if time.Since(start) != time.Duration(latency) {
				t.Fatalf("waited %v, want %v", time.Since(start), time.Duration(latency))
			}
			if withFault && (err != errFault || ran != 0) || !withFault && (err != nil || ran != 1) {
				t.Fatalf("enabled call: %v, ran %d", err, ran)
			}
		})
	})
}
