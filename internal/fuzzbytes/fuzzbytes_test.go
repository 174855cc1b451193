package fuzzbytes

import "testing"

func TestReaderGivesTheBytesThenZeros(t *testing.T) {
	r := New([]byte{7, 255})
	for i, want := range []int{7, 255, 0, 0} {
		if r.Done() != (i >= 2) {
			t.Fatalf("Done before read %d: %v", i, r.Done())
		}
		if got := r.Next(); got != want {
			t.Fatalf("read %d: got %d, want %d", i, got, want)
		}
	}
	if !New(nil).Done() || New(nil).Next() != 0 {
		t.Fatal("the empty input is done and reads zeros")
	}
}
