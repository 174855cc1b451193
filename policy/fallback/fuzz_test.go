package fallback_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/palisade-go/palisade/policy/fallback"
	"github.com/palisade-go/palisade/telemetry"
)

// FuzzConfig checks New on any Config shape — with or without Handles,
// Fallback, a name — and a call of each outcome: it never panics, refuses
// exactly a missing Fallback naming the field, and a valid one replaces
// exactly the handled failures with the fallback's outcome.
func FuzzConfig(f *testing.F) {
	f.Add("", true, true, uint8(0), true, false)
	f.Add("x", false, true, uint8(1), false, true)
	f.Add("y", true, false, uint8(2), true, true)
	f.Fuzz(func(t *testing.T, name string, withHandles, withFallback bool, outcome uint8, handleIt, cancelled bool) {
		errFn := fmt.Errorf("fn %d", outcome)
		errAlt := errors.New("alt")
		cfg := fallback.Config{Name: name, Telemetry: telemetry.Disabled()}
		if withHandles {
			cfg.Handles = func(err error) bool {
				if err != errFn {
					t.Fatalf("Handles got %v", err)
				}
				return handleIt
			}
		}
		if withFallback {
			cfg.Fallback = func(_ context.Context, err error) error {
				if err != errFn {
					t.Fatalf("Fallback got %v", err)
				}
				if outcome%2 == 0 {
					return nil
				}
				return errAlt
			}
		}
		fb, err := fallback.New(cfg)
		if !withFallback {
			if err == nil || fb != nil || !strings.Contains(err.Error(), "Config.Fallback") {
				t.Fatalf("New without Fallback: %v, %v", fb, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if cancelled {
			cancel()
		}
		var ret error
		if outcome%3 != 0 {
			ret = errFn
		}
		got := fb.Execute(ctx, func(context.Context) error { return ret })
		handled := ret != nil && (withHandles && handleIt || !withHandles && !cancelled)
		want := ret
		if handled {
			want = nil
			if outcome%2 != 0 {
				want = errAlt
			}
		}
		if got != want {
			t.Fatalf("Execute = %v, want %v (handled %v)", got, want, handled)
		}
	})
}
