package inventory

import (
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fake struct {
	name string
	_    [64]byte // not a tiny object: tiny objects share blocks and may not be collected alone
}

func find(id uint64) bool { _, ok := Find(id); return ok }

func idOf(t *testing.T, owner any) uint64 {
	t.Helper()
	items, _ := List(0)
	for _, it := range items {
		if it.Owner == owner {
			return it.ID
		}
	}
	t.Fatalf("%v is not listed", owner)
	return 0
}

func TestListsLivePoliciesWithTheirFacts(t *testing.T) {
	a := &fake{name: "a"}
	b := &fake{name: "b"}
	Add(a, "fake", func(f *fake) Facts { return Facts{"name": f.name} })
	Add(b, "other", nil)
	ida, idb := idOf(t, a), idOf(t, b)
	if ida >= idb {
		t.Errorf("ids %d, %d: want registration order", ida, idb)
	}
	it, ok := Find(ida)
	if !ok || it.Kind != "fake" || it.Facts["name"] != "a" || it.Owner != a {
		t.Errorf("Find(%d) = %+v, %v", ida, it, ok)
	}
	it, ok = Find(idb)
	if !ok || it.Kind != "other" || it.Facts != nil {
		t.Errorf("Find(%d) = %+v, %v", idb, it, ok)
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
}

func TestDroppedPolicyDisappears(t *testing.T) {
	id := func() uint64 {
		p := &fake{name: "dropped"}
		Add(p, "fake", func(f *fake) Facts { return Facts{"name": f.name} })
		return idOf(t, p)
	}()
	kept := &fake{name: "kept"}
	Add(kept, "fake", nil)
	keptID := idOf(t, kept)
	deadline := time.Now().Add(10 * time.Second)
	for find(id) || containsID(id) {
		if time.Now().After(deadline) {
			t.Fatal("a policy nothing references is still listed after 10s of garbage collections")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	// The cleanup removes the entry itself, not only its weak pointer.
	for {
		mu.Lock()
		_, present := entries[id]
		mu.Unlock()
		if !present {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the entry of a collected policy was never removed")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if !find(keptID) {
		t.Error("a policy still referenced was dropped")
	}
	runtime.KeepAlive(kept)
}

func containsID(id uint64) bool {
	items, _ := List(0)
	for _, it := range items {
		if it.ID == id {
			return true
		}
	}
	return false
}

func TestPanickingFactsAreReportedNotRaised(t *testing.T) {
	p := &fake{}
	Add(p, "fake", func(*fake) Facts { panic("bug") })
	it, ok := Find(idOf(t, p))
	if !ok || it.Facts["error"] != "facts panicked: bug" {
		t.Errorf("Find = %+v, %v", it, ok)
	}
	runtime.KeepAlive(p)
}

func BenchmarkAdd(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Add(&fake{}, "fake", nil)
	}
}

func TestListStopsAtMax(t *testing.T) {
	ps := make([]*fake, 5)
	for i := range ps {
		ps[i] = &fake{}
		Add(ps[i], "fake", nil)
	}
	items, total := List(3)
	if len(items) != 3 || total < 5 {
		t.Errorf("List(3) = %d items of %d, want 3 of at least 5", len(items), total)
	}
	runtime.KeepAlive(ps)
}
