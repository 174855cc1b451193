package throttle_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/palisade-go/palisade/policy/throttle"
	"github.com/palisade-go/palisade/telemetry"
)

// FuzzConfig checks New on any Config: it never panics, refuses exactly the
// invalid ones with an error naming the field, and a valid one passes every
// call while all succeed, and rejects with the SRE ratio after failures.
func FuzzConfig(f *testing.F) {
	f.Add("", int64(0), 0.0)
	f.Add("x", int64(time.Second), 1.0)
	f.Add("x", int64(15), 2.0)
	f.Add("x", int64(-1), 0.5)
	f.Add("x", int64(16), math.NaN())
	f.Add("x", int64(16), math.Inf(1))
	f.Fuzz(func(t *testing.T, name string, window int64, k float64) {
		cfg := throttle.Config{Name: name, Window: time.Duration(window), K: k, Telemetry: telemetry.Disabled()}
		th, err := throttle.New(cfg)
		var field string
		switch {
		case window < 0 || window > 0 && window < 16:
			field = "Config.Window"
		case math.IsNaN(k) || math.IsInf(k, 0) || k != 0 && k < 1:
			field = "Config.K"
		}
		if field != "" {
			if err == nil || th != nil || !strings.Contains(err.Error(), field) {
				t.Fatalf("New(%+v) = %v; want an error naming %s", cfg, err, field)
			}
			return
		}
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		if want := map[bool]string{true: "throttle", false: name}[name == ""]; th.Name() != want {
			t.Fatalf("Name %q", th.Name())
		}
		for range 50 {
			if err := th.Execute(context.Background(), func(context.Context) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		if r := th.RejectRatio(); r != 0 {
			t.Fatalf("ratio %v after successes only", r)
		}
		if window < int64(time.Second) && window != 0 {
			return // the window may slide during the checks below
		}
		errFn := errors.New("fn")
		for range 10 {
			_ = th.Execute(context.Background(), func(context.Context) error { return errFn })
		}
		effK := k
		if effK == 0 {
			effK = 2
		}
		requests, accepts := 60.0, 50.0
		want := max(0, (requests-effK*accepts)/(requests+1))
		// Rejected calls are requests too: the ratio may be a little
		// above want if some of the 10 were rejected (none can be, while
		// want is 0 at the start). Count: all 10 ran or were rejected,
		// both requests.
		if got := th.RejectRatio(); math.Abs(got-want) > 1e-9 {
			t.Fatalf("ratio %v, want %v", got, want)
		}
	})
}
