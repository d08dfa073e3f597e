package market_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/findash/findash/internal/market"
)

func TestFreshTicks(t *testing.T) {
	var ticks []market.Tick
	for s := uint64(1); s <= 10; s++ {
		ticks = append(ticks, market.Tick{Symbol: "A", Seq: s})
	}
	fresh := market.FreshTicks(ticks, [][2]int64{{2, 3}, {5, 5}, {9, 20}})
	var got []uint64
	for _, tk := range fresh {
		got = append(got, tk.Seq)
	}
	if want := []uint64{1, 4, 6, 7, 8}; !slices.Equal(got, want) {
		t.Errorf("fresh seqs = %v, want %v", got, want)
	}
	if got := market.FreshTicks(ticks, nil); len(got) != len(ticks) {
		t.Errorf("no ranges: %d ticks, want %d", len(got), len(ticks))
	}
}

func TestCheckKlines(t *testing.T) {
	k := func(seq uint64, start int64) market.Candle {
		return market.Candle{Symbol: "A", Interval: market.Interval1m, Start: start, Count: 1, FirstSeq: seq, LastSeq: seq}
	}
	if err := market.CheckKlines([]market.Candle{k(1, 0), k(2, 60_000)}); err != nil {
		t.Fatalf("valid klines: %v", err)
	}
	for name, cs := range map[string][]market.Candle{
		"out of order": {k(2, 0), k(1, 60_000)},
		"not aligned":  {k(1, 1)},
		"two symbols":  {k(1, 0), {Symbol: "B", Interval: market.Interval1m, Count: 1, FirstSeq: 2, LastSeq: 2}},
	} {
		if err := market.CheckKlines(cs); !errors.Is(err, market.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
