package registry_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/palisade-go/palisade/internal/oteltest"
	"github.com/palisade-go/palisade/internal/semconv"
	"github.com/palisade-go/palisade/policy"
	"github.com/palisade-go/palisade/policy/breaker"
	"github.com/palisade-go/palisade/policy/bulkhead"
	"github.com/palisade-go/palisade/registry"
	"github.com/palisade-go/palisade/telemetry"
)

// breakerPipeline is a Config.New building one breaker, telemetry off.
func breakerPipeline(key string) (*policy.Pipeline, error) {
	b, err := breaker.New(breaker.Config{Name: "b", Telemetry: telemetry.Disabled()})
	if err != nil {
		return nil, err
	}
	return policy.NewPipeline("p", b).WithTelemetry(telemetry.Disabled()), nil
}

// breakerOf returns the breaker of a pipeline built by breakerPipeline.
func breakerOf(t testing.TB, p *policy.Pipeline) *breaker.Breaker {
	t.Helper()
	b, ok := p.Policies()[0].(*breaker.Breaker)
	if !ok {
		t.Fatalf("policy 0 is a %T", p.Policies()[0])
	}
	return b
}

func keys(r *registry.Registry[string]) []string {
	var out []string
	for k := range r.All() {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  registry.Config[string]
		want string
	}{
		{registry.Config[string]{}, "Config.New"},
		{registry.Config[string]{New: breakerPipeline, MaxEntries: -2}, "Config.MaxEntries"},
		{registry.Config[string]{New: breakerPipeline, IdleTTL: -1}, "Config.IdleTTL"},
	} {
		_, err := registry.New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}

// Concurrent first Gets of a key build one pipeline, which they all get.
func TestBuildsOnceUnderConcurrentFirstUse(t *testing.T) {
	var builds sync.Map // key -> *atomic.Int32
	release := make(chan struct{})
	r := registry.Must(registry.Config[string]{New: func(key string) (*policy.Pipeline, error) {
		n, _ := builds.LoadOrStore(key, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		<-release // keep every other Get of the key waiting
		return breakerPipeline(key)
	}})
	const goroutines, keyCount = 64, 4
	got := make([]*policy.Pipeline, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			p, err := r.Get(fmt.Sprint("k", i%keyCount))
			if err != nil {
				t.Error(err)
			}
			got[i] = p
		})
	}
	time.Sleep(10 * time.Millisecond) // let them pile up on the builds
	close(release)
	wg.Wait()
	for i := range goroutines {
		if got[i] == nil || got[i] != got[i%keyCount] {
			t.Fatalf("goroutine %d got pipeline %p, goroutine %d %p: want the same", i, got[i], i%keyCount, got[i%keyCount])
		}
	}
	builds.Range(func(k, n any) bool {
		if n := n.(*atomic.Int32).Load(); n != 1 {
			t.Errorf("key %v built %d times, want once", k, n)
		}
		return true
	})
	if r.Len() != keyCount {
		t.Errorf("Len = %d, want %d", r.Len(), keyCount)
	}
}

// A burst of first calls registers the breaker's telemetry once: its status
// series reads 1, not the number of callers.
func TestBuildsOnceTelemetry(t *testing.T) {
	h := oteltest.New()
	r := registry.Must(registry.Config[string]{New: func(key string) (*policy.Pipeline, error) {
		return policy.NewPipeline("p", breaker.Must(breaker.Config{Name: key, Telemetry: h.Telemetry})), nil
	}})
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() { _, _ = r.Get("a") })
	}
	wg.Wait()
	if got := statusOf(t, h, "a", "closed"); got != 1 {
		t.Errorf("palisade.breaker.status{closed} of a = %d, want 1", got)
	}
}

// statusOf returns the palisade.breaker.status of the breaker called name
// in state, or -1 if it is not reported.
func statusOf(t *testing.T, h *oteltest.Harness, name, state string) int64 {
	t.Helper()
	for _, dp := range h.Sum(t, semconv.BreakerStatus) {
		n, _ := dp.Attributes.Value(semconv.PolicyNameKey)
		s, _ := dp.Attributes.Value(semconv.BreakerStateKey)
		if n.AsString() == name && s.AsString() == state {
			return dp.Value
		}
	}
	return -1
}

func TestBuildErrorIsNotKept(t *testing.T) {
	fail := errors.New("no")
	calls := 0
	r := registry.Must(registry.Config[string]{New: func(key string) (*policy.Pipeline, error) {
		calls++
		switch calls {
		case 1:
			return nil, fail
		case 2:
			return nil, nil
		case 3:
			panic("boom")
		}
		return breakerPipeline(key)
	}})
	_, err := r.Get("a")
	var be *registry.BuildError
	if !errors.Is(err, fail) || !errors.As(err, &be) || be.Key != "a" {
		t.Fatalf("first Get: %v, want a *BuildError for a wrapping New's error", err)
	}
	if _, err := r.Get("a"); !errors.As(err, &be) {
		t.Fatalf("Get with New returning nil, nil: %v, want a *BuildError", err)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("panic %v, want New's panic to go on", v)
			}
		}()
		_, _ = r.Get("a")
	}()
	if p, err := r.Get("a"); err != nil || p == nil {
		t.Fatalf("Get after failures: %v, %v; want the pipeline", p, err)
	}
	if r.Len() != 1 {
		t.Errorf("Len = %d, want 1", r.Len())
	}
}

// Waiters of a build whose New panics get an error, not a hang.
func TestWaitersOfPanickingBuild(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	r := registry.Must(registry.Config[string]{New: func(key string) (*policy.Pipeline, error) {
		close(entered)
		<-release
		panic("boom")
	}})
	go func() {
		defer func() { _ = recover() }()
		_, _ = r.Get("a")
	}()
	<-entered
	errc := make(chan error)
	go func() {
		_, err := r.Get("a")
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond) // the second Get waits for the build
	close(release)
	var be *registry.BuildError
	if err := <-errc; !errors.As(err, &be) {
		t.Fatalf("waiter got %v, want a *BuildError", err)
	}
}

// A full registry evicts the entry least recently used: one asked for
// since the eviction hand last passed gets a second chance.
func TestMaxEntriesEvictsLeastRecentlyUsed(t *testing.T) {
	var evicted []string
	r := registry.Must(registry.Config[string]{New: breakerPipeline, MaxEntries: 3,
		OnEvict: func(k string, _ *policy.Pipeline) { evicted = append(evicted, k) }})
	for _, k := range []string{"a", "b", "c", "d"} {
		if _, err := r.Get(k); err != nil {
			t.Fatal(err)
		}
	}
	if got := keys(r); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Fatalf("keys %v, want the oldest, a, evicted", got)
	}
	_, _ = r.Get("b")
	_, _ = r.Get("e")
	if got := keys(r); !slices.Equal(got, []string{"b", "d", "e"}) {
		t.Fatalf("keys %v, want c evicted, b (just used) kept", got)
	}
	if !slices.Equal(evicted, []string{"a", "c"}) {
		t.Errorf("OnEvict saw %v, want [a c]", evicted)
	}
	if r.Len() != 3 {
		t.Errorf("Len = %d, want 3", r.Len())
	}
}

// A breaker that is not closed, or a bulkhead in use, is never evicted;
// with every entry busy a new key is refused.
func TestBusyEntriesAreNotEvicted(t *testing.T) {
	blk := bulkhead.Must(bulkhead.Config{Telemetry: telemetry.Disabled()})
	r := registry.Must(registry.Config[string]{MaxEntries: 2, New: func(key string) (*policy.Pipeline, error) {
		if key == "bulkhead" {
			return policy.NewPipeline("p", policy.NewPipeline("nested", blk)), nil
		}
		return breakerPipeline(key)
	}})
	open, _ := r.Get("open")
	breakerOf(t, open).Isolate()
	if _, err := r.Get("closed"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get("new"); err != nil {
		t.Fatal(err)
	}
	if got := keys(r); !slices.Equal(got, []string{"new", "open"}) {
		t.Fatalf("keys %v, want the closed breaker evicted, the isolated one kept", got)
	}
	newest, _ := r.Get("new")
	breakerOf(t, newest).Isolate()
	_, err := r.Get("refused")
	if !errors.Is(err, registry.ErrFull) || !errors.Is(err, policy.ErrRejected) || telemetry.ErrorType(err) != "registry_full" {
		t.Fatalf("Get with every entry busy: %v, want ErrFull matching policy.ErrRejected", err)
	}

	// A bulkhead with a call in flight, inside a nested pipeline, is busy.
	breakerOf(t, newest).Reset()
	bp, err := r.Get("bulkhead")
	if err != nil {
		t.Fatal(err)
	}
	inside, leave := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = bp.Execute(context.Background(), func(context.Context) error { close(inside); <-leave; return nil })
	}()
	<-inside
	if _, err := r.Get("refused"); !errors.Is(err, registry.ErrFull) {
		t.Errorf("Get with an open breaker and a bulkhead in use: %v, want ErrFull", err)
	}
	close(leave)
	<-done
	if _, err := r.Get("admitted"); err != nil {
		t.Errorf("Get once the bulkhead is idle: %v", err)
	}
	if got := keys(r); !slices.Equal(got, []string{"admitted", "open"}) {
		t.Errorf("keys %v, want the idle bulkhead's entry evicted", got)
	}
}

func TestUnboundedAndRemove(t *testing.T) {
	r := registry.Must(registry.Config[int]{New: func(int) (*policy.Pipeline, error) { return breakerPipeline("") }, MaxEntries: registry.Unbounded})
	first, _ := r.Get(1)
	for i := range 5_000 {
		if _, err := r.Get(i); err != nil {
			t.Fatal(err)
		}
	}
	if r.Len() != 5_000 {
		t.Fatalf("Len = %d, want 5000", r.Len())
	}
	breakerOf(t, first).Isolate() // Remove takes busy entries out too
	if !r.Remove(1) || r.Remove(1) || r.Remove(-5) {
		t.Fatal("Remove: want true once, then false")
	}
	again, _ := r.Get(1)
	if again == first || breakerOf(t, again).State() != breaker.Closed {
		t.Fatal("Get after Remove returned the removed pipeline")
	}
	for i := range 5_000 {
		if p, _ := r.Get(i); p == nil {
			t.Fatalf("key %d lost", i)
		}
	}
}

// Idle entries are evicted after IdleTTL, those in use and the busy ones
// are kept; no goroutine of the registry's outlives the test.
func TestIdleTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var evicted []string
		r := registry.Must(registry.Config[string]{New: breakerPipeline, IdleTTL: time.Minute,
			OnEvict: func(k string, _ *policy.Pipeline) { evicted = append(evicted, k) }})
		for _, k := range []string{"hot", "idle", "open"} {
			_, _ = r.Get(k)
		}
		open, _ := r.Get("open")
		breakerOf(t, open).Isolate()
		for range 12 { // 2 minutes of Gets of hot, every 10s
			time.Sleep(10 * time.Second)
			_, _ = r.Get("hot")
		}
		if got := keys(r); !slices.Equal(got, []string{"hot", "open"}) {
			t.Fatalf("after 2m, keys %v, want idle evicted, hot and open (busy) kept", got)
		}
		if !slices.Equal(evicted, []string{"idle"}) {
			t.Errorf("OnEvict saw %v, want [idle]", evicted)
		}
		// Not evicted before IdleTTL has passed.
		_, _ = r.Get("late")
		time.Sleep(50 * time.Second)
		_, _ = r.Get("hot")
		if !slices.Contains(keys(r), "late") {
			t.Fatal("late evicted before IdleTTL passed")
		}
		breakerOf(t, open).Reset()
		time.Sleep(2 * time.Minute)
		if got := keys(r); len(got) != 0 {
			t.Errorf("after 2 idle minutes, keys %v, want none", got)
		}
	})
}

// An evicted or removed entry stops being observed once it is collected:
// its asynchronous instruments' registrations go with it.
func TestEvictedEntryStopsReporting(t *testing.T) {
	h := oteltest.New()
	r := registry.Must(registry.Config[string]{MaxEntries: 2, New: func(key string) (*policy.Pipeline, error) {
		return policy.NewPipeline("p", breaker.Must(breaker.Config{Name: key, Telemetry: h.Telemetry})).WithTelemetry(h.Telemetry), nil
	}})
	_, _ = r.Get("a")
	_, _ = r.Get("b")
	if statusOf(t, h, "a", "closed") != 1 || statusOf(t, h, "b", "closed") != 1 {
		t.Fatal("a and b not reported")
	}
	_, _ = r.Get("c") // evicts a
	r.Remove("b")
	for i := 0; statusOf(t, h, "a", "closed") != -1 || statusOf(t, h, "b", "closed") != -1; i++ {
		if i == 20 {
			t.Fatal("evicted and removed entries still observed after 20 collections")
		}
		runtime.GC()
	}
	if statusOf(t, h, "c", "closed") != 1 {
		t.Error("c not reported")
	}
	runtime.KeepAlive(r) // a dropped registry's entries go too
}

// Entries named after a template share their series: an asynchronous
// instrument's series adds them up.
func TestTemplateNamesAddUp(t *testing.T) {
	h := oteltest.New()
	r := registry.Must(registry.Config[string]{New: func(key string) (*policy.Pipeline, error) {
		return policy.NewPipeline("p", breaker.Must(breaker.Config{Name: "per-host", Telemetry: h.Telemetry})), nil
	}})
	for _, k := range []string{"a", "b", "c"} {
		_, _ = r.Get(k)
	}
	p, _ := r.Get("b")
	breakerOf(t, p).Isolate()
	if c, i := statusOf(t, h, "per-host", "closed"), statusOf(t, h, "per-host", "isolated"); c != 2 || i != 1 {
		t.Errorf("status closed=%d isolated=%d, want 2 and 1", c, i)
	}
}

func TestGetOfExistingKeyAllocatesNothing(t *testing.T) {
	r := registry.Must(registry.Config[string]{New: breakerPipeline, IdleTTL: time.Hour})
	_, _ = r.Get("a")
	if n := testing.AllocsPerRun(1000, func() { _, _ = r.Get("a") }); n != 0 {
		t.Errorf("Get allocates %v times, want 0", n)
	}
}

// Gets, evictions and removals racing on a small registry: every Get gets
// a pipeline or ErrFull, and the registry never holds more than its bound.
func TestConcurrentChurn(t *testing.T) {
	const max = 16
	r := registry.Must(registry.Config[int]{MaxEntries: max, IdleTTL: time.Millisecond,
		New: func(int) (*policy.Pipeline, error) { return breakerPipeline("") }})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				key := (g*7 + i) % 40
				p, err := r.Get(key)
				if err != nil {
					t.Errorf("Get(%d): %v", key, err)
					return
				}
				if i%50 == 0 {
					breakerOf(t, p).Isolate()
					breakerOf(t, p).Reset()
					r.Remove(key)
				}
				if n := r.Len(); n > max {
					t.Errorf("Len = %d > MaxEntries %d", n, max)
					return
				}
			}
		})
	}
	wg.Wait()
	seen := 0
	for k, p := range r.All() {
		if got, _ := r.Get(k); got != p {
			t.Errorf("All gave key %d a pipeline Get does not", k)
		}
		seen++
	}
	if seen > max {
		t.Errorf("All yielded %d entries > %d", seen, max)
	}
}

// The registry reports its entries, evictions by reason and refusals,
// under its name and never the keys.
func TestRegistryTelemetry(t *testing.T) {
	h := oteltest.New()
	r := registry.Must(registry.Config[string]{Name: "hosts", Telemetry: h.Telemetry, MaxEntries: 2, New: breakerPipeline})
	evictions := func(reason string) int64 {
		for _, dp := range h.Sum(t, semconv.RegistryEvictions) {
			n, _ := dp.Attributes.Value(semconv.RegistryNameKey)
			r, _ := dp.Attributes.Value(semconv.EvictionReasonKey)
			if n.AsString() == "hosts" && r.AsString() == reason {
				return dp.Value
			}
		}
		return -1
	}
	for _, reason := range []string{"idle", "capacity", "removed"} {
		if evictions(reason) != 0 {
			t.Errorf("evictions{%s} = %d, want 0 from the start", reason, evictions(reason))
		}
	}
	for _, k := range []string{"a", "b", "c"} {
		_, _ = r.Get(k)
	}
	r.Remove("c")
	if got := h.Total(t, semconv.RegistryEntries); got != 1 {
		t.Errorf("entries = %d, want 1", got)
	}
	if evictions("capacity") != 1 || evictions("removed") != 1 {
		t.Errorf("evictions capacity=%d removed=%d, want 1 and 1", evictions("capacity"), evictions("removed"))
	}
	for _, k := range []string{"x", "y"} {
		p, _ := r.Get(k)
		breakerOf(t, p).Isolate()
	}
	if _, err := r.Get("z"); !errors.Is(err, registry.ErrFull) {
		t.Fatal(err)
	}
	if got := h.Total(t, semconv.RejectedCalls); got != 1 {
		t.Errorf("rejected_calls = %d, want 1", got)
	}
	for _, dp := range h.Sum(t, semconv.RejectedCalls) {
		typ, _ := dp.Attributes.Value(semconv.PolicyTypeKey)
		et, _ := dp.Attributes.Value(semconv.ErrorTypeKey)
		if typ.AsString() != "registry" || et.AsString() != "registry_full" {
			t.Errorf("rejection attributes %v", dp.Attributes.ToSlice())
		}
	}
	for _, m := range []string{semconv.RegistryEntries, semconv.RegistryEvictions} {
		for _, dp := range h.Sum(t, m) {
			for _, kv := range dp.Attributes.ToSlice() {
				if v := kv.Value.AsString(); v == "x" || v == "y" || v == "a" {
					t.Errorf("%s carries the key %s", m, v)
				}
			}
		}
	}
	runtime.KeepAlive(r)
}

// The Busy of Config.Busy's documentation lets a half-open entry go,
// while DefaultBusy keeps it.
func TestBusyLettingHalfOpenGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		newPipeline := func(string) (*policy.Pipeline, error) {
			b := breaker.Must(breaker.Config{ConsecutiveFailures: 1, BreakDuration: time.Second, Telemetry: telemetry.Disabled()})
			return policy.NewPipeline("p", b).WithTelemetry(telemetry.Disabled()), nil
		}
		letHalfOpenGo := func(p *policy.Pipeline) bool {
			for _, pol := range p.Policies() {
				if b, ok := pol.(*breaker.Breaker); ok && b.State() == breaker.HalfOpen {
					return false
				}
			}
			return registry.DefaultBusy(p)
		}
		strict := registry.Must(registry.Config[string]{MaxEntries: 1, New: newPipeline})
		lenient := registry.Must(registry.Config[string]{MaxEntries: 1, New: newPipeline, Busy: letHalfOpenGo})
		for _, r := range []*registry.Registry[string]{strict, lenient} {
			p, _ := r.Get("dead-host")
			_ = p.Execute(context.Background(), func(context.Context) error { return errors.New("down") })
		}
		for _, r := range []*registry.Registry[string]{strict, lenient} {
			if _, err := r.Get("new-host"); !errors.Is(err, registry.ErrFull) {
				t.Fatalf("new key while the breaker is open: %v, want ErrFull", err)
			}
		}
		time.Sleep(time.Second) // the break ends: half-open
		if _, err := strict.Get("new-host"); !errors.Is(err, registry.ErrFull) {
			t.Errorf("DefaultBusy: %v, want the half-open entry kept", err)
		}
		if _, err := lenient.Get("new-host"); err != nil {
			t.Errorf("letting half-open go: %v, want room made", err)
		}
	})
}
