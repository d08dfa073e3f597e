package report

import (
	"strconv"
	"strings"
	"time"

	"github.com/findash/findash/internal/market"
)

// MaxPriceDecimals bounds the decimals a report shows a price with.
const MaxPriceDecimals = 8

// The one way reports write numbers and times, shared by the CSV writer
// and the PDF renderer (internal/report/pdf) so that both files show the
// same text for the same candle.

// FormatTime writes ms since epoch as ISO 8601 in UTC, to the second
// (bucket starts are whole seconds): 2026-01-02T15:04:00Z.
func FormatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

// Decimals is how many decimals price needs (at most MaxPriceDecimals),
// once rounded to market.DerivedDigits significant digits.
func Decimals(price float64) int {
	s := strconv.FormatFloat(market.RoundDerived(price), 'f', -1, 64)
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return 0
	}
	return min(len(s)-i-1, MaxPriceDecimals)
}

// CandleDecimals is the symbol's precision as its candles show it: the
// most decimals any of their prices needs.
func CandleDecimals(c *market.Candle) int {
	return max(Decimals(c.Open), Decimals(c.High), Decimals(c.Low), Decimals(c.Close))
}

// FormatPrice writes price with exactly decimals decimals (the symbol's
// precision), so a column of one symbol lines up: 43123.50, 43124.00.
func FormatPrice(price float64, decimals int) string {
	return strconv.FormatFloat(price, 'f', decimals, 64)
}

// FormatVolume writes a volume (a sum of sizes) rounded to
// market.DerivedDigits significant digits: 0.3, not 0.30000000000000004.
func FormatVolume(v float64) string {
	return strconv.FormatFloat(market.RoundDerived(v), 'f', -1, 64)
}

// closedTo is the last bucket start a report built at now may hold at
// interval iv: before the bucket still open at now, so a report has
// closed candles only (and the same ones in CSV and PDF).
func closedTo(to int64, iv market.Interval, now time.Time) int64 {
	return min(to, iv.Start(now.UnixMilli())-1)
}
