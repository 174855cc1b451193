package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeFor[time.Duration]()

// EnvPrefix starts the name of every environment variable that overrides a
// value of a file; see the package documentation for the scheme.
const EnvPrefix = "PALISADE_"

// document is a file decoded and checked for structure, before any policy
// is built.
type document struct {
	defaults  map[string]*section // by kind
	budgets   []*budgetDoc
	pipelines []*pipelineDoc
	envNodes  map[*yaml.Node]string // value nodes made from environment variables
}

// section is one policy's settings (or a kind's defaults) decoded into its
// spec, with where each field was set.
type section struct {
	kind *kind
	node *yaml.Node // the section's value node, or the policy item's for an empty one
	path string
	spec reflect.Value         // addressable value of kind.spec
	at   map[string]*yaml.Node // Go field name → the value node it was set from
	from map[*yaml.Node]string // value node → its path (for defaults, their own)
	bad  bool                  // decoding it found problems
	// Go names of the fields whose values could not be decoded: errors of
	// building the section that name them are not reported again.
	failed map[string]bool
}

type budgetDoc struct {
	name string
	sec  *section
}

type pipelineDoc struct {
	name     string
	node     *yaml.Node
	path     string
	policies []*section
}

// decoder decodes one file, collecting every problem.
type decoder struct {
	file     string
	problems []Problem
	env      map[string]*envVar    // our variables, by name
	envNodes map[*yaml.Node]string // value nodes made from environment variables
	visits   int                   // nodes decoded, aliases followed included
}

// maxVisits bounds the nodes a file may make the decoder visit: aliases
// and merge keys can make a small file expand exponentially.
const maxVisits = 1 << 16

type envVar struct {
	name, value string
	used        bool
}

func (d *decoder) problem(n *yaml.Node, path string, err error) {
	p := Problem{File: d.file, Path: path, Err: err}
	if n != nil {
		if name, ok := d.envOf(n); ok {
			p.Env = name
		} else {
			p.Line, p.Column = n.Line, n.Column
		}
	}
	d.problems = append(d.problems, p)
}

func (d *decoder) problemf(n *yaml.Node, path, format string, args ...any) {
	d.problem(n, path, fmt.Errorf(format, args...))
}

// envOf reports the environment variable a node was made from.
func (d *decoder) envOf(n *yaml.Node) (string, bool) {
	name, ok := d.envNodes[n]
	return name, ok
}

func decode(data []byte, file string, environ []string) (*document, []Problem) {
	d := &decoder{file: file, env: map[string]*envVar{}, envNodes: map[*yaml.Node]string{}}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if ok && (strings.HasPrefix(name, EnvPrefix+"PIPELINES_") || strings.HasPrefix(name, EnvPrefix+"DEFAULTS_") || strings.HasPrefix(name, EnvPrefix+"BUDGETS_")) {
			d.env[name] = &envVar{name: name, value: value}
		}
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&root)
	if err == nil {
		var next yaml.Node
		if dec.Decode(&next) != io.EOF {
			d.problemf(&next, "", "a second YAML document: a file holds one")
			return nil, d.problems
		}
	}
	if err != nil && err != io.EOF {
		line := yamlErrorLine(err)
		msg := yamlLine.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), "")
		d.problems = append(d.problems, Problem{File: file, Line: line, Err: errors.New(strings.TrimPrefix(msg, ": "))})
		return nil, d.problems
	}
	doc := &document{defaults: map[string]*section{}, envNodes: d.envNodes}
	if root.Kind == 0 || len(root.Content) == 0 {
		d.problemf(nil, "", "the file is empty; it needs a pipelines section")
		return nil, d.problems
	}
	top := resolve(root.Content[0])
	if top.Kind != yaml.MappingNode {
		d.problemf(top, "", "want a mapping with pipelines (and optionally defaults and budgets), got %s", kindName(top))
		return nil, d.problems
	}
	var defaults, budgets, pipelines *yaml.Node
	d.eachKey(top, "", func(k, v *yaml.Node, path string) {
		switch k.Value {
		case "defaults":
			defaults = v
		case "budgets":
			budgets = v
		case "pipelines":
			pipelines = v
		default:
			if strings.HasPrefix(k.Value, "x-") {
				return // extension fields, a place for anchors, as in Compose files
			}
			d.problemf(k, path, "unknown field (want defaults, budgets or pipelines)")
		}
	})
	d.decodeDefaults(doc, defaults)
	d.decodeBudgets(doc, budgets)
	if pipelines == nil {
		d.problemf(top, "pipelines", "missing: a file needs a pipelines section")
	} else {
		d.decodePipelines(doc, pipelines)
	}
	for _, name := range sortedKeys(d.env) {
		if v := d.env[name]; !v.used {
			d.problems = append(d.problems, Problem{File: file, Env: name, Err: errors.New("matches no field of the file (see the package documentation for the naming scheme)")})
		}
	}
	return doc, d.problems
}

var yamlLine = regexp.MustCompile(`^line (\d+)`)

func yamlErrorLine(err error) int {
	if m := yamlLine.FindStringSubmatch(strings.TrimPrefix(err.Error(), "yaml: ")); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// eachKey calls fn with each key and value of the mapping m, reporting
// duplicate keys; path is m's.
func (d *decoder) eachKey(m *yaml.Node, path string, fn func(k, v *yaml.Node, path string)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], resolve(m.Content[i+1])
		p := join(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.problemf(k, p, "duplicate key (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		fn(k, v, p)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) decodeDefaults(doc *document, n *yaml.Node) {
	if !isNull(n) && n.Kind != yaml.MappingNode {
		d.problemf(n, "defaults", "want a mapping from kinds of policy to their default settings, got %s", kindName(n))
		return
	}
	nodes := map[string]*yaml.Node{}
	if n != nil && n.Kind == yaml.MappingNode {
		d.eachKey(n, "defaults", func(k, v *yaml.Node, path string) {
			if lookupKind(k.Value) == nil {
				d.problemf(k, path, "unknown kind of policy (kinds: %s)", strings.Join(Kinds(), ", "))
				return
			}
			nodes[k.Value] = v
		})
	}
	for _, name := range Kinds() {
		kd := lookupKind(name)
		v := nodes[name]
		path := "defaults." + name
		if envs := d.envFor(EnvPrefix+"DEFAULTS_"+envName(name)+"_", kd.spec); len(envs) > 0 {
			if v == nil {
				v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			}
			v = d.override(v, path, envs)
		}
		if v == nil {
			continue
		}
		sec := newSection(kd, v, path)
		d.decodeSection(v, sec)
		doc.defaults[name] = sec
	}
}

func newSection(kd *kind, n *yaml.Node, path string) *section {
	return &section{kind: kd, node: n, path: path, spec: reflect.New(kd.spec).Elem(), at: map[string]*yaml.Node{}, from: map[*yaml.Node]string{}}
}

func (d *decoder) decodeBudgets(doc *document, n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.problemf(n, "budgets", "want a mapping from budget names to their settings, got %s", kindName(n))
		return
	}
	kd := budgetKind()
	d.eachKey(n, "budgets", func(k, v *yaml.Node, path string) {
		if envs := d.envFor(EnvPrefix+"BUDGETS_"+envName(k.Value)+"_", kd.spec); len(envs) > 0 {
			v = d.override(v, path, envs)
		}
		sec := newSection(kd, v, path)
		d.decodeSection(v, sec)
		doc.budgets = append(doc.budgets, &budgetDoc{name: k.Value, sec: sec})
	})
}

func (d *decoder) decodePipelines(doc *document, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		d.problemf(n, "pipelines", "want a mapping from pipeline names to pipelines, got %s", kindName(n))
		return
	}
	d.eachKey(n, "pipelines", func(k, v *yaml.Node, path string) {
		if k.Value == "" {
			d.problemf(k, path, "a pipeline needs a name")
			return
		}
		pd := &pipelineDoc{name: k.Value, node: v, path: path}
		doc.pipelines = append(doc.pipelines, pd)
		if v.Kind != yaml.MappingNode {
			d.problemf(v, path, "want a mapping with policies, got %s", kindName(v))
			return
		}
		var policies *yaml.Node
		d.eachKey(v, path, func(k, v *yaml.Node, path string) {
			if k.Value != "policies" {
				d.problemf(k, path, "unknown field (want policies)")
				return
			}
			policies = v
		})
		if isNull(policies) {
			return // a pipeline of no policy runs its function as is
		}
		if policies.Kind != yaml.SequenceNode {
			d.problemf(policies, path+".policies", "want a sequence of policies, got %s", kindName(policies))
			return
		}
		occurrences := map[string]int{}
		for i, item := range policies.Content {
			item = resolve(item)
			ipath := fmt.Sprintf("%s.policies[%d]", path, i)
			if item.Kind != yaml.MappingNode || len(item.Content) != 2 {
				d.problemf(item, ipath, "want a mapping of one kind of policy to its settings, as {breaker: {failure_ratio: 0.5}}, got %s", kindName(item))
				continue
			}
			k, sv := item.Content[0], resolve(item.Content[1])
			kpath := ipath + "." + k.Value
			kd := lookupKind(k.Value)
			if kd == nil {
				d.problemf(k, kpath, "unknown kind of policy (kinds: %s)", strings.Join(Kinds(), ", "))
				continue
			}
			occurrences[k.Value]++
			envKind := envName(k.Value)
			if n := occurrences[k.Value]; n > 1 {
				envKind += strconv.Itoa(n)
			}
			if envs := d.envFor(EnvPrefix+"PIPELINES_"+envName(pd.name)+"_"+envKind+"_", kd.spec); len(envs) > 0 {
				if isNull(sv) {
					sv = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				}
				sv = d.override(sv, kpath, envs)
			}
			sec := newSection(kd, sv, kpath)
			if isNull(sv) {
				sec.node = k
			}
			if def := doc.defaults[k.Value]; def != nil {
				sec.spec.Set(def.spec)
				for f, n := range def.at {
					sec.at[f] = n
				}
				for n, p := range def.from {
					sec.from[n] = p
				}
				sec.bad = def.bad
				for f := range def.failed {
					if sec.failed == nil {
						sec.failed = map[string]bool{}
					}
					sec.failed[f] = true
				}
			}
			if !isNull(sv) {
				d.decodeSection(sv, sec)
			}
			pd.policies = append(pd.policies, sec)
		}
	})
}

// envOverride is an environment variable that sets the field at keys.
type envOverride struct {
	v    *envVar
	keys []string
}

// envName is s as it appears in environment variable names: upper case,
// every character other than a letter or digit an underscore.
func envName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// envFor returns the environment variables that set a field of a section
// of spec type t whose variables start with prefix, and marks them used.
func (d *decoder) envFor(prefix string, t reflect.Type) []envOverride {
	var out []envOverride
	var walk func(t reflect.Type, envPrefix string, keys []string)
	walk = func(t reflect.Type, envPrefix string, keys []string) {
		for _, f := range specFields(t) {
			name := envPrefix + envName(f.key)
			k := append(append([]string(nil), keys...), f.key)
			if f.typ.Kind() == reflect.Struct && f.typ != durationType {
				walk(f.typ, name+"_", k)
				continue
			}
			if v, ok := d.env[name]; ok {
				if v.used {
					d.problems = append(d.problems, Problem{File: d.file, Env: name, Err: errors.New("matches more than one field: rename the pipelines whose names differ only in punctuation or case")})
					continue
				}
				v.used = true
				out = append(out, envOverride{v: v, keys: k})
			}
		}
	}
	walk(t, prefix, nil)
	return out
}

// override returns n, a mapping (or null), with the overrides applied.
func (d *decoder) override(n *yaml.Node, path string, envs []envOverride) *yaml.Node {
	if isNull(n) {
		n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	if n.Kind != yaml.MappingNode {
		return n // decodeStruct reports it
	}
	for _, e := range envs {
		m := n
		for i, key := range e.keys {
			last := i == len(e.keys)-1
			var val *yaml.Node
			for j := 0; j+1 < len(m.Content); j += 2 {
				if m.Content[j].Value == key {
					val = m.Content[j+1]
					if last {
						m.Content[j+1] = d.envScalar(e.v)
					}
				}
			}
			if last {
				if val == nil {
					m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, d.envScalar(e.v))
				}
				break
			}
			if val == nil || isNull(val) {
				val = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, val)
			}
			if val.Kind != yaml.MappingNode {
				d.problemf(val, path+"."+strings.Join(e.keys[:i+1], "."), "cannot override a field inside %s", kindName(val))
				break
			}
			m = val
		}
	}
	return n
}

func (d *decoder) envScalar(v *envVar) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: v.value}
	d.envNodes[n] = v.name
	return n
}

// decodeSection decodes n into sec, marking it bad if that finds
// problems.
func (d *decoder) decodeSection(n *yaml.Node, sec *section) {
	before := len(d.problems)
	d.decodeStruct(n, sec.spec, sec.path, sec)
	if len(d.problems) > before {
		sec.bad = true
	}
}

// decodeStruct decodes the mapping n into the struct v, recording in sec
// where each field was set. Keys not among v's fields are problems.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, sec *section) {
	if d.visits++; d.visits > maxVisits {
		if d.visits == maxVisits+1 {
			d.problemf(n, path, "the file expands, through its aliases, to more than %d mappings", maxVisits)
		}
		return
	}
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.problemf(n, path, "want a mapping of settings, got %s", kindName(n))
		return
	}
	fields := specFields(v.Type())
	// Merge keys (<<: *base) first, so that the mapping's own keys win.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.ShortTag() == "!!merge" {
			val := resolve(n.Content[i+1])
			if val.Kind == yaml.SequenceNode {
				for _, m := range val.Content {
					d.decodeStruct(m, v, path, sec)
				}
			} else {
				d.decodeStruct(val, v, path, sec)
			}
		}
	}
	d.eachKey(n, path, func(k, val *yaml.Node, p string) {
		if k.ShortTag() == "!!merge" {
			return
		}
		for _, f := range fields {
			if f.key == k.Value {
				before := len(d.problems)
				d.decodeValue(val, v.Field(f.index), p, sec)
				if sec != nil && v.Type() == sec.spec.Type() {
					sec.at[f.goName] = val
					sec.from[val] = p
					if len(d.problems) > before {
						if sec.failed == nil {
							sec.failed = map[string]bool{}
						}
						sec.failed[f.goName] = true
					}
				}
				return
			}
		}
		known := make([]string, len(fields))
		for i, f := range fields {
			known[i] = f.key
		}
		d.problemf(k, p, "unknown field (fields: %s)", strings.Join(known, ", "))
	})
}

func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, path string, sec *section) {
	switch {
	case v.Type() == durationType:
		if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
			d.problemf(n, path, "want a duration such as 250ms or 1m30s, got %s", kindName(n))
			return
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.problemf(n, path, "want a duration such as 250ms or 1m30s, got %q", n.Value)
			return
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path, nil)
	default:
		if n.Kind != yaml.ScalarNode {
			d.problemf(n, path, "want a %s, got %s", v.Type(), kindName(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			msg := err.Error()
			if i := strings.LastIndex(msg, ": cannot"); i >= 0 {
				msg = msg[i+2:]
			}
			d.problem(n, path, errors.New(msg))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
