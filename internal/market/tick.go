package market

import (
	"cmp"
	"slices"
	"strings"
)

// Tick is one trade or price update.
type Tick struct {
	Symbol string  `json:"symbol"`
	TS     int64   `json:"ts"` // ms since epoch, UTC (event time)
	Price  float64 `json:"price"`
	Size   float64 `json:"size"`
	// Seq is assigned by the event log: strictly increasing per symbol across
	// every instance. Zero until the tick has been logged.
	Seq uint64 `json:"seq,omitempty"`
}

// Timestamps outside [MinTS, MaxTS] are rejected: they are almost always a
// unit mistake (seconds or microseconds instead of milliseconds).
const (
	MinTS int64 = 946684800000  // 2000-01-01T00:00:00Z
	MaxTS int64 = 4102444800000 // 2100-01-01T00:00:00Z
)

// hardLimits are the widest bounds any configuration may set.
var hardLimits = Limits{MinPrice: HardMinPrice, MaxPrice: HardMaxPrice, MaxSize: HardMaxSize, MaxNotional: HardMaxNotional}

// Validate checks the tick's fields against the contract, with the widest
// bounds any configuration allows (the Hard* constants): a valid symbol, a
// timestamp between 2000 and 2100, a finite price within
// [HardMinPrice, HardMaxPrice], a finite size within [0, HardMaxSize] and a
// notional within HardMaxNotional. Ingest checks the configured, narrower
// Limits and the clock (Limits.Check).
func (t *Tick) Validate() error { return hardLimits.Values(t) }

// Before reports whether t comes before u in event order: by TS, then by Seq.
func (t *Tick) Before(u *Tick) bool {
	return t.TS < u.TS || (t.TS == u.TS && t.Seq < u.Seq)
}

// KeyOrder returns the indexes of ticks in stored-key order (symbol, ts,
// seq); ticks with equal keys keep their order in the slice, so a store that
// keeps the first of two equal keys keeps the same one in either order. The
// slice itself is not reordered. Both stores insert a batch in this order:
// a batch arrives interleaved across symbols, and rows in key order land on
// one index leaf after another instead of a different leaf each time
// (docs/benchmarks/ingest.md, round 6; docs/postgres.md).
func KeyOrder(ticks []Tick) []int32 {
	order := make([]int32, len(ticks))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		a, b := &ticks[i], &ticks[j]
		return cmp.Or(strings.Compare(a.Symbol, b.Symbol), cmp.Compare(a.TS, b.TS), cmp.Compare(a.Seq, b.Seq), cmp.Compare(i, j))
	})
	return order
}
