package market

import "math"

// ImportedRanges walks the ranges of import keys already imported for a
// symbol from a source (the stores' import_ranges rows: sorted, disjoint,
// inclusive [lo, hi]) alongside a batch whose keys increase, so that both
// stores skip what was imported before in one pass.
type ImportedRanges struct {
	r [][2]int64
	j int
}

// NewImportedRanges returns a walk over r, sorted by lo and disjoint.
func NewImportedRanges(r [][2]int64) *ImportedRanges { return &ImportedRanges{r: r} }

// Covers reports whether key k lies in one of the ranges. Keys must be
// asked in increasing order.
func (w *ImportedRanges) Covers(k int64) bool {
	for w.j < len(w.r) && w.r[w.j][1] < k {
		w.j++
	}
	return w.j < len(w.r) && w.r[w.j][0] <= k
}

// FreshTicks returns the ticks (ordered by Seq, their import key) whose key
// lies in none of the ranges; ticks itself when there are no ranges.
func FreshTicks(ticks []Tick, ranges [][2]int64) []Tick {
	if len(ranges) == 0 {
		return ticks
	}
	w := NewImportedRanges(ranges)
	fresh := make([]Tick, 0, len(ticks))
	for _, t := range ticks {
		if !w.Covers(int64(t.Seq)) {
			fresh = append(fresh, t)
		}
	}
	return fresh
}

// CheckKlines reports whether candles can be imported as klines: 1m
// candles of one symbol, not empty, each its own import key (FirstSeq ==
// LastSeq, below 2^63) increasing. Otherwise it returns an ErrInvalid.
func CheckKlines(candles []Candle) error {
	if len(candles) == 0 {
		return nil
	}
	sym := candles[0].Symbol
	for i := range candles {
		c := &candles[i]
		if c.Symbol != sym || c.Interval != Interval1m || c.Count <= 0 || c.FirstSeq > math.MaxInt64 || c.FirstSeq != c.LastSeq ||
			c.Start != Interval1m.Start(c.Start) || (i > 0 && c.FirstSeq <= candles[i-1].FirstSeq) {
			return Invalid("candles", "1m candles of one symbol, not empty, seqs increasing and below 2^63")
		}
	}
	return nil
}
