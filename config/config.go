package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/palisade-go/palisade/internal/report"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/budget"
	"github.com/palisade-go/palisade/telemetry"
)

// DefaultInterval is how often Watch looks at its file when WithInterval
// is not given.
const DefaultInterval = 5 * time.Second

// Option configures Load, LoadFile and Watch.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	telemetry *telemetry.Telemetry
	hooks     []hook
	environ   []string
	envSet    bool
	fileName  string
	interval  time.Duration
	onReload  func(error)
}

// WithTelemetry gives every pipeline and policy built from the file this
// Telemetry, and reports the reloads of Watch and Reload to it
// (palisade.config.reloads). Without it, the global providers are used.
func WithTelemetry(t *telemetry.Telemetry) Option {
	return optionFunc(func(o *options) { o.telemetry = t })
}

// WithEnviron takes the environment variables that override the file from
// env, in the form of os.Environ, instead of from the process's
// environment. WithEnviron(nil) turns overrides off.
func WithEnviron(env []string) Option {
	return optionFunc(func(o *options) { o.environ, o.envSet = env, true })
}

// WithFileName names the input of Load in errors. LoadFile and Watch use
// their path.
func WithFileName(name string) Option {
	return optionFunc(func(o *options) { o.fileName = name })
}

// WithInterval sets how often Watch reads its file; default
// [DefaultInterval].
func WithInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.interval = d })
}

// WithOnReload sets a function called after each reload by Watch or Reload,
// with nil when the new file took effect, or the *[Error] for which it did
// not (the running pipelines are kept). Calls are made one at a time, on
// the goroutine that reloaded (Watch's, or Reload's caller). Without it,
// failed reloads are logged with log/slog's default logger.
func WithOnReload(fn func(err error)) Option {
	return optionFunc(func(o *options) { o.onReload = fn })
}

// Pipelines holds the pipelines of a file, by name. Get returns the
// current pipeline of a name; Policy a stable handle that follows reloads.
// It is safe for concurrent use.
type Pipelines struct {
	opts   options
	file   string
	report *report.Config

	cur atomic.Pointer[state]

	mu      sync.Mutex // serializes reloads; guards handles
	handles map[string]*handle

	notifyMu sync.Mutex // serializes the calls of onReload

	cancel context.CancelFunc // of Watch's goroutine
	done   chan struct{}      // closed when it has returned
}

// state is one successfully loaded file's pipelines and what built them.
type state struct {
	pipelines map[string]*policy.Pipeline
	names     []string
	policies  map[slotKey]*built
	budgets   map[string]*builtBudget
	docs      map[string]*pipelineDoc // for NewPipeline
}

// slotKey identifies a policy across reloads: the n-th (1, 2, …) policy of
// its kind in its pipeline.
type slotKey struct {
	pipeline, kind string
	n              int
}

type built struct {
	spec    any
	budgets map[string]*budget.Budget // the shared budgets it took
	policy  policy.Policy
}

type builtBudget struct {
	spec BudgetSpec
	b    *budget.Budget
}

func newPipelines(opts []Option) *Pipelines {
	p := &Pipelines{handles: map[string]*handle{}}
	for _, o := range opts {
		o.apply(&p.opts)
	}
	if !p.opts.envSet {
		p.opts.environ = os.Environ()
	}
	if p.opts.interval <= 0 {
		p.opts.interval = DefaultInterval
	}
	p.report = report.NewConfig(p.opts.telemetry)
	return p
}

// Load reads a file of pipelines, YAML or JSON (JSON is read as the YAML it
// also is), from r, applies the environment's overrides, and builds its
// pipelines. Its error is an *[Error] listing every problem found.
func Load(r io.Reader, opts ...Option) (*Pipelines, error) {
	p := newPipelines(opts)
	p.file = p.opts.fileName
	if p.file == "" {
		if f, ok := r.(interface{ Name() string }); ok {
			p.file = f.Name()
		} else {
			p.file = "<input>"
		}
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &Error{File: p.file, Problems: []Problem{{File: p.file, Err: err}}}
	}
	if err := p.load(data); err != nil {
		return nil, err
	}
	return p, nil
}

// LoadFile is Load of the file at path.
func LoadFile(path string, opts ...Option) (*Pipelines, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Problems: []Problem{{File: path, Err: err}}}
	}
	return Load(bytes.NewReader(data), append(opts, WithFileName(path))...)
}

// Get returns the current pipeline called name, or nil if the file has
// none. A caller that keeps the result keeps that pipeline across reloads;
// use Policy for one that follows them.
func (p *Pipelines) Get(name string) *policy.Pipeline {
	return p.cur.Load().pipelines[name]
}

// Names returns the names of the current pipelines, sorted.
func (p *Pipelines) Names() []string { return slices.Clone(p.cur.Load().names) }

// Policy returns a policy that runs each call through the pipeline called
// name as it is when the call starts: after a reload, new calls go through
// the new pipeline, while calls in progress finish in the old one. While
// the file has no such pipeline, calls fail with an error matching
// [ErrNoPipeline] without running. The handle costs an atomic load per
// call over the pipeline itself, and declares concurrent attempts (see
// policy.AttemptMode), since a reload may give it a pipeline that makes
// them.
func (p *Pipelines) Policy(name string) policy.Policy {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.handles[name]
	if h == nil {
		h = &handle{name: name}
		h.cur.Store(p.cur.Load().pipelines[name])
		p.handles[name] = h
	}
	return h
}

type handle struct {
	name string
	cur  atomic.Pointer[policy.Pipeline]
}

var _ policy.ModalPolicy = (*handle)(nil)

func (h *handle) Execute(ctx context.Context, fn policy.Func) error {
	pl := h.cur.Load()
	if pl == nil {
		return fmt.Errorf("%w: %q", ErrNoPipeline, h.name)
	}
	return pl.Execute(ctx, fn)
}

func (h *handle) AttemptMode() policy.AttemptMode { return policy.ConcurrentAttempts }

// Name returns the name of the pipeline the handle follows.
func (h *handle) Name() string { return h.name }

// NewPipeline builds a new pipeline from the current file's pipeline
// called name, with policies of its own: what a [registry.Registry] needs
// to keep a pipeline per key built from a template in a file (as
// resilience4j builds instances from a named configuration):
//
//	hosts := registry.Must(registry.Config[string]{
//		New: func(string) (*policy.Pipeline, error) { return pipelines.NewPipeline("per-host") },
//	})
//
// Its policies are named as the template's are, so that every key reports
// under the same series. Budgets named by its retries are the file's,
// shared with every pipeline that names them. Pipelines built before a
// reload keep the settings they were built with.
//
// [registry.Registry]: https://pkg.go.dev/github.com/palisade-go/palisade/registry#Registry
func (p *Pipelines) NewPipeline(name string) (*policy.Pipeline, error) {
	st := p.cur.Load()
	pd := st.docs[name]
	if pd == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoPipeline, name)
	}
	budgets := make(map[string]*budget.Budget, len(st.budgets))
	for n, b := range st.budgets {
		budgets[n] = b.b
	}
	policies := make([]policy.Policy, 0, len(pd.policies))
	for _, sec := range pd.policies {
		b := &Build{Pipeline: pd.name, Telemetry: p.opts.telemetry, kind: sec.kind.name, budgets: budgets, hooks: p.opts.hooks}
		pol, err := callBuild(sec.kind, b, sec.spec.Interface())
		if err != nil {
			return nil, fmt.Errorf("palisade/config: %s: %w", sec.path, err)
		}
		policies = append(policies, pol)
	}
	pl := policy.NewPipeline(pd.name, policies...)
	if p.opts.telemetry != nil {
		pl = pl.WithTelemetry(p.opts.telemetry)
	}
	return pl, nil
}

// Reload replaces the pipelines with those of the file read from r, at
// once for every caller: Get returns the new pipelines and handles run new
// calls through them. If the file has any problem, nothing changes and the
// *[Error] is returned.
//
// What is unchanged is kept: a policy whose kind, position among the
// policies of its kind in its pipeline, and settings (defaults and
// environment included) are all the same, and which shares the same
// budgets, is the same object as before — a breaker keeps its state and
// window, a bulkhead its calls in flight, a budget its window. A policy
// whose settings changed in any way is built anew: a breaker whose window
// size or any other setting changed starts closed with an empty window
// (palisade's policies cannot change settings in place). A pipeline whose
// policies are all the same objects is itself the same object.
func (p *Pipelines) Reload(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		err = &Error{File: p.file, Problems: []Problem{{File: p.file, Err: err}}}
	} else {
		err = p.load(data)
	}
	p.reloaded(err)
	return err
}

func (p *Pipelines) reloaded(err error) {
	p.report.Reloaded(err != nil)
	p.notifyMu.Lock()
	defer p.notifyMu.Unlock()
	switch {
	case p.opts.onReload != nil:
		p.opts.onReload(err)
	case err != nil:
		slog.Error("palisade/config: reload failed, the running pipelines are kept", "file", p.file, "error", err)
	}
}

// load decodes and builds data and, if it has no problem, swaps it in.
func (p *Pipelines) load(data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	doc, problems := decode(data, p.file, p.opts.environ)
	var st *state
	if doc != nil {
		// Sections that decoded are built even if others did not, so
		// that the error lists every problem of the file at once.
		var more []Problem
		st, more = p.build(doc)
		problems = append(problems, more...)
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return &Error{File: p.file, Problems: problems}
	}
	p.cur.Store(st)
	for name, h := range p.handles {
		h.cur.Store(st.pipelines[name])
	}
	return nil
}

// build builds the pipelines of doc, reusing what the current state has
// of them unchanged.
func (p *Pipelines) build(doc *document) (*state, []Problem) {
	prev := p.cur.Load()
	if prev == nil {
		prev = &state{}
	}
	st := &state{
		pipelines: map[string]*policy.Pipeline{},
		policies:  map[slotKey]*built{},
		budgets:   map[string]*builtBudget{},
		docs:      map[string]*pipelineDoc{},
	}
	var problems []Problem
	budgets := map[string]*budget.Budget{}
	for _, bd := range doc.budgets {
		spec := bd.sec.spec.Interface().(BudgetSpec)
		if old := prev.budgets[bd.name]; old != nil && old.spec == spec {
			st.budgets[bd.name], budgets[bd.name] = old, old.b
			continue
		}
		b, err := budget.New(budget.Config{Ratio: spec.Ratio, MinExtra: spec.MinExtra, Window: spec.Window})
		if err != nil || bd.sec.bad {
			problems = doc.addProblem(problems, p.file, bd.sec, err)
			budgets[bd.name] = nil // its users are not built
			continue
		}
		st.budgets[bd.name], budgets[bd.name] = &builtBudget{spec: spec, b: b}, b
	}
	for _, pd := range doc.pipelines {
		var policies []policy.Policy
		failed := false
		seen := map[string]int{}
		for _, sec := range pd.policies {
			seen[sec.kind.name]++
			key := slotKey{pipeline: pd.name, kind: sec.kind.name, n: seen[sec.kind.name]}
			spec := sec.spec.Interface()
			if old := prev.policies[key]; old != nil && reflect.DeepEqual(old.spec, spec) && sameBudgets(old.budgets, budgets) {
				st.policies[key] = old
				policies = append(policies, old.policy)
				continue
			}
			b := &Build{Pipeline: pd.name, Telemetry: p.opts.telemetry, kind: sec.kind.name, budgets: budgets, hooks: p.opts.hooks}
			pol, err := callBuild(sec.kind, b, spec)
			if err != nil || sec.bad {
				if !errors.Is(err, errBadBudget) {
					problems = doc.addProblem(problems, p.file, sec, err)
				}
				failed = true
				continue
			}
			st.policies[key] = &built{spec: spec, budgets: b.taken, policy: pol}
			policies = append(policies, pol)
		}
		if failed {
			continue
		}
		if old := prev.pipelines[pd.name]; old != nil && slices.Equal(old.Policies(), policies) {
			st.pipelines[pd.name] = old
		} else {
			pl := policy.NewPipeline(pd.name, policies...)
			if p.opts.telemetry != nil {
				pl = pl.WithTelemetry(p.opts.telemetry)
			}
			st.pipelines[pd.name] = pl
		}
		st.names = append(st.names, pd.name)
		st.docs[pd.name] = pd
	}
	sort.Strings(st.names)
	return st, problems
}

// callBuild runs a kind's build function, turning a panic or a nil policy
// into an error: a reload must not bring down the service.
func callBuild(kd *kind, b *Build, spec any) (pol policy.Policy, err error) {
	defer func() {
		if v := recover(); v != nil {
			pol, err = nil, fmt.Errorf("building the %s policy panicked: %v", kd.name, v)
		}
	}()
	pol, err = kd.build(b, spec)
	if err == nil && pol == nil {
		err = fmt.Errorf("the %s builder returned no policy", kd.name)
	}
	return pol, err
}

func sameBudgets(old, cur map[string]*budget.Budget) bool {
	for name, b := range old {
		if cur[name] != b {
			return false
		}
	}
	return true
}

// sortProblems orders problems by their place in the file, those without
// a line (environment variables, the whole file) last.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
}

var configField = regexp.MustCompile(`Config\.(\w+)`)

// addProblem adds to problems err, an error of building sec (or nil),
// placed at the field it names ("Config.FailureRatio") if sec set it, else
// at the section. The sections whose decoding already found problems are
// built all the same, so that the file's other problems are found, but an
// error of theirs is reported only if it names a field that decoded: the
// others may come from the values that did not.
func (doc *document) addProblem(problems []Problem, file string, sec *section, err error) []Problem {
	if err == nil {
		return problems
	}
	n, path := sec.node, sec.path
	named := false
	if m := configField.FindStringSubmatch(err.Error()); m != nil {
		if sec.failed[m[1]] {
			return problems
		}
		if at := sec.at[m[1]]; at != nil {
			n, path, named = at, sec.from[at], true
		}
	}
	if sec.bad && !named {
		return problems
	}
	return append(problems, doc.problem(file, n, path, err))
}

func (doc *document) problem(file string, n *yaml.Node, path string, err error) Problem {
	p := Problem{File: file, Path: path, Err: err}
	if name, ok := doc.envNodes[n]; ok {
		p.Env = name
	} else if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	return p
}

// Close stops the watching started by Watch and waits for it to end; it
// changes nothing for the pipelines, which go on working. It is a no-op
// for Pipelines from Load or LoadFile, and after the first call.
func (p *Pipelines) Close() error {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
	return nil
}

// Watch is LoadFile, then keeps the pipelines up to date with the file:
// every interval (WithInterval; default [DefaultInterval]) it reads the
// file, and when its content has changed, reloads it as
// [Pipelines.Reload] does. A file that cannot be read or loaded keeps the
// running pipelines; the failure is passed to WithOnReload's function (or
// logged) once per change, and counted in palisade.config.reloads with
// palisade.config.outcome=failure.
//
// The file is read through its path each time, symbolic links followed,
// and compared by content, not modification time, so that the atomic swap
// of a Kubernetes ConfigMap volume (a symbolic link replaced by another) is
// seen like an edit in place. Watching ends when ctx ends or Close is
// called.
func Watch(ctx context.Context, path string, opts ...Option) (*Pipelines, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Problems: []Problem{{File: path, Err: err}}}
	}
	p, err := Load(bytes.NewReader(data), append(opts, WithFileName(path))...)
	if err != nil {
		return nil, err
	}
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	go p.watch(ctx, path, sha256.Sum256(data))
	return p, nil
}

func (p *Pipelines) watch(ctx context.Context, path string, last [sha256.Size]byte) {
	defer close(p.done)
	ticker := time.NewTicker(p.opts.interval)
	defer ticker.Stop()
	lastReadErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if err.Error() != lastReadErr { // once per distinct failure, not per tick
				lastReadErr = err.Error()
				p.reloaded(&Error{File: path, Problems: []Problem{{File: path, Err: err}}})
			}
			continue
		}
		lastReadErr = ""
		sum := sha256.Sum256(data)
		if sum == last {
			continue
		}
		last = sum // a bad file is reported once, not at every tick
		p.reloaded(p.safeLoad(data))
	}
}

// safeLoad is load for Watch's goroutine, where a panic would end the
// program: it becomes the reload's error.
func (p *Pipelines) safeLoad(data []byte) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &Error{File: p.file, Problems: []Problem{{File: p.file, Err: fmt.Errorf("reloading panicked: %v", v)}}}
		}
	}()
	return p.load(data)
}
