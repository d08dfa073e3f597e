package gateway

import "testing"

// TestFirstAfter checks the binary search over the ring against a linear
// scan, for rings that wrap at every position.
func TestFirstAfter(t *testing.T) {
	const limit = 16
	for pushed := range 3 * limit {
		tp := newSymbolTopic("A", 0)
		for s := 1; s <= pushed; s++ {
			tp.push(uint64(10*s), 0, nil, limit) // seqs 10, 20, …: gaps between them
		}
		for after := uint64(0); after <= uint64(10*pushed+10); after++ {
			want := 0
			for want < tp.n && tp.entry(want).seq <= after {
				want++
			}
			if got := tp.firstAfter(after); got != want {
				t.Fatalf("%d pushed (start %d, n %d): firstAfter(%d) = %d, want %d", pushed, tp.start, tp.n, after, got, want)
			}
		}
	}
}
