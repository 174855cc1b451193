package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite palisade.schema.json from the package's kinds")

// ownKinds are the kinds this package registers: the inits of a package's
// test files run after those of its other files, and before those of the
// external tests, which register kinds of their own.
var ownKinds []string

func init() { ownKinds = Kinds() }

// The committed schema is what Schema gives for the package's own kinds:
// go test ./config -update rewrites it after a change to a spec type or a
// new kind.
func TestSchemaGolden(t *testing.T) {
	got := schemaOf(ownKinds)
	if !json.Valid(got) {
		t.Fatal("the schema is not valid JSON")
	}
	const golden = "palisade.schema.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date: run go test ./config -update", golden)
	}
	var s struct {
		Defs map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(got, &s); err != nil {
		t.Fatal(err)
	}
	for _, kind := range ownKinds {
		if len(s.Defs[kind].Properties) == 0 {
			t.Errorf("no schema for %s", kind)
		}
	}
	if _, ok := s.Defs["breaker"].Properties["failure_ratio"]; !ok {
		t.Error("breaker's schema lacks failure_ratio")
	}
	if _, ok := s.Defs["test-delay"]; ok {
		t.Error("a kind of the external tests is in the golden schema")
	}
}
