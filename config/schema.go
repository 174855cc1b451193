package config

import (
	"encoding/json"
	"reflect"
)

// SchemaID is the $id of the JSON Schema of files.
const SchemaID = "https://github.com/palisade-go/palisade/config/palisade.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of configuration files,
// made from the spec types of the registered kinds, for editors'
// completion and checking: with the YAML language server, a first line
//
//	# yaml-language-server: $schema=palisade.schema.json
//
// enables it. The repository's config/palisade.schema.json is Schema() of
// this package's own kinds; a program registering kinds of its own can
// write its own.
func Schema() []byte { return schemaOf(Kinds()) }

// schemaOf is Schema with only the given kinds.
func schemaOf(kinds []string) []byte {
	defs := map[string]any{
		"duration": map[string]any{
			"type":        "string",
			"pattern":     `^-?([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$|^0$`,
			"description": "A Go duration, such as 250ms, 1.5s or 1m30s.",
		},
		"budget": specSchema(reflect.TypeFor[BudgetSpec](), false),
	}
	var oneOf []any
	defaults := map[string]any{}
	for _, name := range kinds {
		kd := lookupKind(name)
		defs[name] = specSchema(kd.spec, true)
		ref := map[string]any{"$ref": "#/$defs/" + name}
		defaults[name] = ref
		oneOf = append(oneOf, map[string]any{
			"type":                 "object",
			"additionalProperties": false,
			"required":             []string{name},
			"properties":           map[string]any{name: ref},
		})
	}
	defs["policy"] = map[string]any{
		"description": "One policy: a mapping of its kind to its settings.",
		"oneOf":       oneOf,
	}
	schema := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  SchemaID,
		"title":                "palisade pipelines",
		"description":          "Pipelines of resilience policies, for github.com/palisade-go/palisade/config.",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"pipelines"},
		"properties": map[string]any{
			"defaults": map[string]any{
				"description":          "Settings every policy of a kind starts from; a policy's own settings override them.",
				"type":                 "object",
				"additionalProperties": false,
				"properties":           defaults,
			},
			"budgets": map[string]any{
				"description":          "Shared retry budgets, by name, which retry policies name in their budget field.",
				"type":                 "object",
				"additionalProperties": map[string]any{"$ref": "#/$defs/budget"},
			},
			"pipelines": map[string]any{
				"description": "Pipelines by name.",
				"type":        "object",
				"additionalProperties": map[string]any{
					"type":                 "object",
					"additionalProperties": false,
					"properties": map[string]any{
						"policies": map[string]any{
							"description": "The pipeline's policies, the outermost first.",
							"type":        []string{"array", "null"},
							"items":       map[string]any{"$ref": "#/$defs/policy"},
						},
					},
				},
			},
		},
		"$defs": defs,
	}
	out, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		panic(err) // maps of strings and slices always marshal
	}
	return append(out, '\n')
}

// specSchema returns the schema of a spec struct; nullable for a policy
// section, which may be left empty to take every default.
func specSchema(t reflect.Type, nullable bool) map[string]any {
	props := map[string]any{}
	for _, f := range specFields(t) {
		var s map[string]any
		switch {
		case f.typ == durationType:
			s = map[string]any{"$ref": "#/$defs/duration"}
		case f.typ.Kind() == reflect.Struct:
			s = specSchema(f.typ, true)
		case f.typ.Kind() == reflect.String:
			s = map[string]any{"type": "string"}
		case f.typ.Kind() == reflect.Bool:
			s = map[string]any{"type": "boolean"}
		case f.typ.Kind() == reflect.Float32 || f.typ.Kind() == reflect.Float64:
			s = map[string]any{"type": "number"}
		default:
			s = map[string]any{"type": "integer"}
		}
		if f.doc != "" {
			s["description"] = f.doc
		}
		props[f.key] = s
	}
	var typ any = "object"
	if nullable {
		typ = []string{"object", "null"}
	}
	return map[string]any{"type": typ, "additionalProperties": false, "properties": props}
}
