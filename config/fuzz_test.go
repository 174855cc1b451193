package config_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/palisade-go/palisade/config"
	"github.com/palisade-go/palisade/telemetry"
)

// FuzzLoad: whatever the input, Load does not panic, and either builds
// every pipeline it names or returns a *config.Error whose problems all say
// what is wrong.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		full, v1,
		"pipelines: {a: {policies: [{timeout: {duration: 1s}}]}}",
		`{"pipelines": {"a": {"policies": [{"breaker": null}]}}}`,
		"x-a: &a {duration: 1s}\npipelines: {a: {policies: [{timeout: *a}, {timeout: {<<: *a}}]}}",
		"pipelines: {a: {policies: [{retry: {backoff: {multiplier: 1, no_jitter: true}, budget: b}}]}}\nbudgets: {b: {ratio: 0.1}}",
		"defaults: {bulkhead: {max_queue: -1}}\npipelines: {a: {policies: [{bulkhead: }]}}",
		"pipelines: [",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := config.Load(bytes.NewReader(data), config.WithEnviron(nil), config.WithTelemetry(telemetry.Disabled()))
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("Load: %v (%T), want a *config.Error with problems", err, err)
			}
			for _, pr := range ce.Problems {
				if pr.Err == nil {
					t.Fatalf("a problem without an error: %+v", pr)
				}
			}
			_ = err.Error()
			return
		}
		for _, name := range p.Names() {
			if p.Get(name) == nil {
				t.Fatalf("Names has %q, Get has no pipeline", name)
			}
		}
	})
}
