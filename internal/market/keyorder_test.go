package market

import (
	"slices"
	"testing"
)

func TestKeyOrder(t *testing.T) {
	ticks := []Tick{
		{Symbol: "B", TS: 2, Seq: 1}, // 0
		{Symbol: "A", TS: 3, Seq: 1}, // 1
		{Symbol: "B", TS: 1, Seq: 9}, // 2
		{Symbol: "A", TS: 3, Seq: 0}, // 3
		{Symbol: "B", TS: 2, Seq: 1}, // 4: the same key as 0
		{Symbol: "A", TS: 1, Seq: 5}, // 5
	}
	in := slices.Clone(ticks)
	got := KeyOrder(ticks)
	if want := []int32{5, 3, 1, 2, 0, 4}; !slices.Equal(got, want) {
		t.Errorf("KeyOrder() = %v, want %v", got, want)
	}
	if !slices.Equal(in, ticks) {
		t.Error("KeyOrder() reordered its argument")
	}
}
