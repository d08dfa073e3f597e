package storetest

import (
	"cmp"
	"slices"
	"testing"

	"github.com/findash/findash/internal/market"
)

// Run runs the conformance suite of the market data and users. open must
// return a fresh, migrated, empty store for each call and close it when t
// ends. The tests live by concern: writes.go (WriteBatch, the candle
// merge), reads.go (restore, candles, ticks, retention) and users.go;
// RunAccounts and RunAlerts check the other stores.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"WriteBatchIdempotent", testWriteBatchIdempotent},
		{"WriteBatchAtomic", testWriteBatchAtomic},
		{"WriteBatchOverlapConflicts", testWriteBatchOverlap},
		{"WriteBatchBehind", testWriteBatchBehind},
		{"WriteBatchEqualKeys", testWriteBatchEqualKeys},
		{"WriteBatchEqualCandleKeys", testWriteBatchEqualCandleKeys},
		{"CandleMergeMatchesDomain", testCandleMerge},
		{"RestoreState", testRestoreState},
		{"PartitionPositions", testPartitionPositions},
		{"Candles", testCandles},
		{"Ticks", testTicks},
		{"TicksAfter", testTicksAfter},
		{"DeleteTicksBefore", testDeleteTicksBefore},
		{"DeleteTicksCounted", testDeleteTicksCounted},
		{"Users", testUsers},
		{"APIKeys", testAPIKeys},
		{"APIKeyCap", testAPIKeyCap},
		{"APIKeySymbols", testAPIKeySymbols},
		{"Symbols", testSymbols},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// day0 is 2025-11-27T00:00:00Z: every interval's bucket edge.
const day0 int64 = 1764201600000

func rollup(ticks []market.Tick) []market.Candle {
	r := market.NewRollup()
	for i := range ticks {
		r.Add(&ticks[i])
	}
	return slices.Clone(r.Candles())
}

func mustWrite(t *testing.T, s Store, ticks []market.Tick, logSeq uint64) {
	t.Helper()
	if err := s.WriteBatch(t.Context(), market.Unpartitioned, ticks, rollup(ticks), 0, logSeq, logSeq); err != nil {
		t.Fatalf("WriteBatch(%d ticks, logSeq %d) error: %v", len(ticks), logSeq, err)
	}
}

func position(t *testing.T, s Store) uint64 {
	t.Helper()
	pos, err := s.LogPosition(t.Context(), market.Unpartitioned)
	if err != nil {
		t.Fatalf("LogPosition() error: %v", err)
	}
	return pos
}

// allCandles reads every stored candle of the given symbols.
func allCandles(t *testing.T, s Store, symbols ...string) []market.Candle {
	t.Helper()
	var out []market.Candle
	for _, sym := range symbols {
		for _, iv := range market.Intervals {
			cs, err := s.Candles(t.Context(), market.CandleQuery{Symbol: sym, Interval: iv, From: market.MinTS, To: market.MaxTS, Limit: market.MaxLimit})
			if err != nil {
				t.Fatalf("Candles(%s, %s) error: %v", sym, iv, err)
			}
			out = append(out, cs...)
		}
	}
	return out
}

func allTicks(t *testing.T, s Store, symbols []string) []market.Tick {
	t.Helper()
	var out []market.Tick
	for _, sym := range symbols {
		for from := market.MinTS; ; {
			ts, err := s.Ticks(t.Context(), sym, from, market.MaxTS, market.MaxLimit)
			if err != nil {
				t.Fatalf("Ticks(%s) error: %v", sym, err)
			}
			// Ticks sharing the last ts may straddle pages: re-read from that
			// ts and drop what was seen.
			for _, tk := range ts {
				if len(out) > 0 && out[len(out)-1].Symbol == sym && !out[len(out)-1].Before(&tk) {
					continue
				}
				out = append(out, tk)
			}
			if len(ts) < market.MaxLimit {
				break
			}
			from = ts[len(ts)-1].TS
		}
	}
	return out
}

// bruteCandles recomputes every candle from scratch: ticks sorted by (ts,
// seq), applied one by one, per (symbol, interval, bucket).
func bruteCandles(ticks []market.Tick) map[market.CandleKey]market.Candle {
	sorted := slices.Clone(ticks)
	slices.SortFunc(sorted, func(a, b market.Tick) int {
		return cmp.Or(cmp.Compare(a.TS, b.TS), cmp.Compare(a.Seq, b.Seq))
	})
	out := make(map[market.CandleKey]market.Candle)
	for i := range sorted {
		t := &sorted[i]
		for _, iv := range market.Intervals {
			k := market.CandleKey{Symbol: t.Symbol, Interval: iv, Start: iv.Start(t.TS)}
			c, ok := out[k]
			if !ok {
				c = market.NewCandle(iv, t)
			} else {
				c.Apply(t)
			}
			out[k] = c
		}
	}
	return out
}

func sortCandles(cs []market.Candle) {
	slices.SortFunc(cs, func(a, b market.Candle) int {
		return cmp.Or(cmp.Compare(a.Symbol, b.Symbol), cmp.Compare(a.Interval, b.Interval), cmp.Compare(a.Start, b.Start))
	})
}
