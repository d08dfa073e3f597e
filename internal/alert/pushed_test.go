package alert

import "testing"

// TestFiringKeysBound: the set of pushed firings answers "new" once per
// key and, full, forgets its oldest key first.
func TestFiringKeysBound(t *testing.T) {
	f := newFiringKeys(3)
	for seq := uint64(1); seq <= 3; seq++ {
		if !f.add(7, seq) {
			t.Fatalf("add(7, %d) the first time = false, want true", seq)
		}
	}
	if f.add(7, 2) {
		t.Fatal("add(7, 2) again = true, want false")
	}
	if !f.add(8, 2) {
		t.Fatal("add(8, 2) (another alert) = false, want true")
	}
	// (7, 1) was the oldest: forgotten; (7, 3) is kept.
	if !f.add(7, 1) {
		t.Error("add(7, 1) after the set overflowed = false, want true (forgotten)")
	}
	if f.add(7, 3) {
		t.Error("add(7, 3) = true, want false (still kept)")
	}
	if len(f.set) != 3 {
		t.Errorf("%d keys kept, want 3", len(f.set))
	}
}
