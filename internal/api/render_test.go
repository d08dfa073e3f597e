package api

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/findash/findash/internal/market"
)

// TestAppendCandlesMatchesEncodingJSON: the hand-written candle list is,
// byte for byte, what encoding/json writes for the same list (with the
// candles' MarshalJSON): empty, with a cursor, with values that take
// exponents, rounding and escaping.
func TestAppendCandlesMatchesEncodingJSON(t *testing.T) {
	c := market.Candle{Symbol: "BTC-USD", Interval: market.Interval1m, Start: 1764244800000,
		Open: 43123.5, High: 43200.25, Low: 1e-7, Close: 2e21, Volume: 0.1 + 0.2, Count: 7}
	odd := c
	odd.Symbol, odd.Interval, odd.Volume, odd.Start = "EUR/USD", market.Interval1d, math.Inf(1), -86_400_000
	for _, l := range []list[market.Candle]{
		{Data: []market.Candle{}},
		{Data: []market.Candle{c}},
		{Data: []market.Candle{c, odd, c}, NextCursor: encodeCursor(candleCursor{Symbol: "EUR/USD", Interval: "1d", From: 5, To: 9})},
		{},
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
		if got := appendCandles(nil, l); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("appendCandles = %s\nencoding/json = %s", got, want.Bytes())
		}
	}
}
