package feed

import (
	"encoding/json"
	"testing"

	"github.com/findash/findash/internal/feed/fakeexchange"
)

// BenchmarkBinanceParse: one documented aggTrade message through
// binance.parse (the hand-written decoder, then the checks), and through
// encoding/json alone, the former decoder, as the baseline of the same run.
func BenchmarkBinanceParse(b *testing.B) {
	msg := fakeexchange.Fixture("binance/aggTrade.json")
	bn := &binance{names: map[string]string{"BNBBTC": "BNB-BTC"}}
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]Trade, 0, 1)
		for b.Loop() {
			trades, _, err := bn.parse(msg, dst[:0])
			if err != nil || len(trades) != 1 {
				b.Fatal(err, trades)
			}
		}
	})
	b.Run("encoding-json-envelope", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var env binanceEnvelope
			if err := json.Unmarshal(msg, &env); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast-envelope", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var env binanceEnvelope
			if !fastBinanceEnvelope(msg, &env) {
				b.Fatal("declined")
			}
		}
	})
}

// BenchmarkCoinbaseParse: one documented match message through
// coinbase.parse (the hand-written decoder, then the checks), and through
// encoding/json alone, the former decoder, as the baseline of the same run.
func BenchmarkCoinbaseParse(b *testing.B) {
	msg := fakeexchange.Fixture("coinbase/match.json")
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		c := &coinbase{seq: map[string]int64{}, products: map[string]string{"BTC-USD": "BTC-USD"}}
		dst := make([]Trade, 0, 1)
		for b.Loop() {
			clear(c.seq)
			trades, _, err := c.parse(msg, dst[:0])
			if err != nil || len(trades) != 1 {
				b.Fatal(err, trades)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m coinbaseMsg
			if err := json.Unmarshal(msg, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
