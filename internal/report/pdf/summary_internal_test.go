package pdf

import (
	"testing"

	"github.com/findash/findash/internal/market"
)

// TestChartBounded: however many candles a symbol has, its chart holds at
// most MaxChartCandles bars, and the bars together are the same candle as
// the input (first open, last close, extreme high and low, summed counts).
func TestChartBounded(t *testing.T) {
	for _, n := range []int{1, MaxChartCandles - 1, MaxChartCandles, MaxChartCandles + 1, 1000, 10_007} {
		var s symbolSummary
		var want market.Candle
		for i := range n {
			o := 100 + float64(i%13)
			c := market.Candle{Start: int64(i) * 60_000, Open: o, Close: o + 1, High: o + 2 + float64(i%97), Low: o - 1 - float64(i%89), Volume: 1, Count: 2}
			mergeInto(&want, i, &c)
			s.add(&c)
		}
		bars := s.bars()
		if len(bars) == 0 || len(bars) > MaxChartCandles {
			t.Fatalf("%d candles: %d bars, want 1..%d", n, len(bars), MaxChartCandles)
		}
		var got market.Candle
		for i := range bars {
			if i > 0 && bars[i].Start <= bars[i-1].Start {
				t.Fatalf("%d candles: bar %d starts %d after %d", n, i, bars[i].Start, bars[i-1].Start)
			}
			mergeInto(&got, i, &bars[i])
		}
		if got != want {
			t.Errorf("%d candles: bars merge to %+v, want %+v", n, got, want)
		}
		if s.candles != int64(n) || s.ticks != int64(2*n) || s.open != want.Open || s.close != want.Close || s.high != want.High || s.low != want.Low {
			t.Errorf("%d candles: summary %+v, want the merged candle %+v", n, s, want)
		}
	}
}
