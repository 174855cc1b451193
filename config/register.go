package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/telemetry"
)

// kind is a registered kind of policy.
type kind struct {
	name  string
	spec  reflect.Type // a struct
	build func(b *Build, spec any) (policy.Policy, error)
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]*kind{}
)

// Register makes kind usable in configuration files: a policy section
// named kind decodes into a value of the struct type S, whose exported
// fields are named in files by their `yaml` tags (time.Duration fields from
// strings such as "250ms", nested structs as mappings) and described, in the
// JSON Schema, by their `doc` tags; build then makes the policy. Register
// panics if kind is already registered or S is not a struct of such fields.
// Call it from an init function, as this package does for its own kinds:
// adding a kind of policy is one small file.
//
// A Spec field with the name of a field of the policy's Config (FailureRatio
// for Config.FailureRatio) lets errors of the policy's New that name
// "Config.FailureRatio" point at the line of that field in the file.
func Register[S any](kind string, build func(b *Build, spec S) (policy.Policy, error)) {
	t := reflect.TypeFor[S]()
	if err := checkSpec(t, map[reflect.Type]bool{}); err != nil {
		panic(fmt.Sprintf("palisade/config: Register(%q): %v", kind, err))
	}
	if kind == "" || build == nil {
		panic("palisade/config: Register needs a kind name and a build function")
	}
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[kind]; dup {
		panic(fmt.Sprintf("palisade/config: Register(%q): kind already registered", kind))
	}
	kinds[kind] = registeredKind(kind, t, build)
}

func registeredKind[S any](name string, t reflect.Type, build func(*Build, S) (policy.Policy, error)) *kind {
	return &kind{name: name, spec: t, build: func(b *Build, spec any) (policy.Policy, error) {
		return build(b, spec.(S))
	}}
}

// lookupKind returns the registered kind called name, or nil.
func lookupKind(name string) *kind {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	return kinds[name]
}

// Kinds returns the names of the registered kinds of policy, sorted.
func Kinds() []string {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// checkSpec reports whether t is a struct whose exported fields the
// decoder can fill.
func checkSpec(t reflect.Type, seen map[reflect.Type]bool) error {
	if t.Kind() != reflect.Struct {
		return fmt.Errorf("spec type %v is not a struct", t)
	}
	if seen[t] {
		return fmt.Errorf("spec type %v is recursive", t)
	}
	seen[t] = true
	defer delete(seen, t)
	for _, f := range specFields(t) {
		ft := f.typ
		switch {
		case ft == durationType:
		case ft.Kind() == reflect.Struct:
			if err := checkSpec(ft, seen); err != nil {
				return err
			}
		case slices.Contains(scalarKinds, ft.Kind()):
		default:
			return fmt.Errorf("field %s of %v has type %v, which files cannot hold", f.goName, t, ft)
		}
	}
	return nil
}

var scalarKinds = []reflect.Kind{
	reflect.String, reflect.Bool,
	reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
	reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
	reflect.Float32, reflect.Float64,
}

// field is an exported field of a spec struct with a yaml name.
type field struct {
	key    string // its name in files
	goName string
	index  int
	typ    reflect.Type
	doc    string
}

// specFields returns the fields of the spec struct t that files can set:
// the exported ones with a yaml tag other than "-".
func specFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		if j := strings.IndexByte(tag, ','); j >= 0 {
			tag = tag[:j]
		}
		out = append(out, field{key: tag, goName: f.Name, index: i, typ: f.Type, doc: f.Tag.Get("doc")})
	}
	return out
}

// Build is what a kind's build function gets besides its spec: where the
// policy is and what it may share.
type Build struct {
	// Pipeline is the name of the pipeline the policy belongs to.
	Pipeline string
	// Telemetry is the one given with WithTelemetry, or nil
	// (telemetry.Default()); build functions pass it to the policy's
	// Config.
	Telemetry *telemetry.Telemetry

	kind    string
	budgets map[string]*budget.Budget
	taken   map[string]*budget.Budget // the budgets this build used
	hooks   []hook
}

// Name returns name, or the pipeline's name when name is empty: the default
// name of a policy in a file, so that each pipeline's policies report under
// a name of their own.
func (b *Build) Name(name string) string {
	if name != "" {
		return name
	}
	return b.Pipeline
}

// Budget returns the shared retry budget called name in the file's budgets
// section, for a policy (retry, hedge) whose spec names one.
func (b *Build) Budget(name string) (*budget.Budget, error) {
	bud, ok := b.budgets[name]
	if ok && bud == nil {
		return nil, errBadBudget
	}
	if !ok {
		names := make([]string, 0, len(b.budgets))
		for n := range b.budgets {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("no budget %q in the budgets section (budgets: %v)", name, names)
	}
	if b.taken == nil {
		b.taken = map[string]*budget.Budget{}
	}
	b.taken[name] = bud
	return bud, nil
}

// errBadBudget is the error of Build.Budget for a budget whose own
// problems are reported: its users are not built, and not reported again.
var errBadBudget = errors.New("the budget has problems of its own")

// Customize passes cfg, a pointer to the Config about to be given to the
// policy's New, to the hooks given with [WithCustomizer] for this kind, so
// that code can set what files cannot hold (IsFailure, OnStateChange, a
// backoff of its own). It returns an error if a hook for this kind takes
// another type.
func (b *Build) Customize(cfg any) error {
	for _, h := range b.hooks {
		if h.kind != b.kind {
			continue
		}
		if err := h.apply(b.Pipeline, cfg); err != nil {
			return err
		}
	}
	return nil
}

type hook struct {
	kind  string
	apply func(pipeline string, cfg any) error
}

// WithCustomizer gives code a say in the Config of every policy of the
// given kind, after the file's values are set and before the policy is
// built: fn gets the pipeline's name and the Config (*breaker.Config for
// "breaker"). Several customizers of a kind run in the order given. A
// customizer whose C is not the kind's Config type is an error at load
// time.
//
//	config.WithCustomizer("breaker", func(pipeline string, c *breaker.Config) {
//		c.IsIgnored = isNotFound
//	})
//
// Customizers are code, the same at each reload: a reused policy (see
// [Pipelines.Reload]) is not customized again.
func WithCustomizer[C any](kind string, fn func(pipeline string, cfg *C)) Option {
	return optionFunc(func(o *options) {
		o.hooks = append(o.hooks, hook{kind: kind, apply: func(pipeline string, cfg any) error {
			c, ok := cfg.(*C)
			if !ok {
				return fmt.Errorf("a customizer for %s takes %T, but the %s builder passes %T", kind, (*C)(nil), kind, cfg)
			}
			fn(pipeline, c)
			return nil
		}})
	})
}
