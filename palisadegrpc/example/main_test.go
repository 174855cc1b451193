package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRun runs the example and checks its story: load shed with pushback,
// a breaker that opens on the outage and closes after it.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	t.Log("\n" + got)
	for _, want := range []string{
		"ResourceExhausted, pushback 100ms:",
		"  call 1: Unavailable: database unreachable",
		"  client breaker: closed → open",
		"  call 4: Unavailable: palisade/breaker: greeter: circuit open",
		"  client breaker: open → half_open",
		"  client breaker: half_open → closed",
		"  call 6: OK, breaker closed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(got, "ResourceExhausted, pushback 100ms: 0") {
		t.Error("the burst shed nothing")
	}
}
