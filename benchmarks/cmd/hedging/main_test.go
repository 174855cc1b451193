package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShortRun runs the experiment for a second and checks that it writes
// its plot, with a line per client.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a second of loopback load")
	}
	svg := filepath.Join(t.TempDir(), "hedging.svg")
	for name, v := range map[string]string{"duration": "1s", "warmup": "300ms", "svg": svg, "rate": "100"} {
		if err := flag.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	main()
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "<polyline"); n != 6 {
		t.Fatalf("%d lines in the plot, want 6 (5 clients and one more quantile)", n)
	}
}
