package pdf

import (
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/report"
)

// MaxChartCandles bounds the candles drawn in one symbol's chart. A longer
// range is shown coarser: adjacent candles are merged pairwise (their
// first open, highest high, lowest low, last close) until it fits, so a
// PDF of any range uses memory bounded by this, not by the range.
const MaxChartCandles = 240

// symbolSummary is one symbol's row of the PDF's summary table, and the
// candles of its chart.
type symbolSummary struct {
	symbol      string
	candles     int64
	ticks       int64
	first, last int64 // bucket starts, ms since epoch, UTC
	open, close float64
	high, low   float64
	volume      float64
	decimals    int             // the symbol's precision in this report (report.CandleDecimals)
	chart       []market.Candle // at most MaxChartCandles, oldest first
	perBar      int             // source candles per chart candle (a power of 2)
	pending     market.Candle   // source candles not yet a full chart candle
	pendingN    int
}

// add folds candle c (the next, oldest first) into the summary.
func (s *symbolSummary) add(c *market.Candle) {
	s.decimals = max(s.decimals, report.CandleDecimals(c))
	if s.candles == 0 {
		s.first, s.open, s.high, s.low, s.perBar = c.Start, c.Open, c.High, c.Low, 1
	}
	s.candles++
	s.ticks += c.Count
	s.last, s.close = c.Start, c.Close
	s.high, s.low = max(s.high, c.High), min(s.low, c.Low)
	s.volume += c.Volume

	mergeInto(&s.pending, s.pendingN, c)
	s.pendingN++
	if s.pendingN < s.perBar {
		return
	}
	s.chart = append(s.chart, s.pending)
	s.pending, s.pendingN = market.Candle{}, 0
	if len(s.chart) == MaxChartCandles {
		// Halve: merge pairs; from now on each chart candle takes twice
		// as many source candles.
		for i := 0; i < len(s.chart)/2; i++ {
			m := s.chart[2*i]
			mergeInto(&m, 1, &s.chart[2*i+1])
			s.chart[i] = m
		}
		s.chart = s.chart[:len(s.chart)/2]
		s.perBar *= 2
	}
}

// bars returns the chart's candles, with a trailing partial one.
func (s *symbolSummary) bars() []market.Candle {
	if s.pendingN > 0 {
		return append(s.chart, s.pending)
	}
	return s.chart
}

// mergeInto folds c, the candle after the n already merged into dst.
func mergeInto(dst *market.Candle, n int, c *market.Candle) {
	if n == 0 {
		*dst = *c
		return
	}
	dst.High, dst.Low = max(dst.High, c.High), min(dst.Low, c.Low)
	dst.Close = c.Close
	dst.Volume += c.Volume
	dst.Count += c.Count
}
