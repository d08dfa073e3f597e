package fakeexchange

import (
	"testing"
	"time"
)

// The encoders write the documented layouts: each fixture, decoded into a
// Trade, encodes back to the fixture byte for byte.
func TestEncodersWriteTheFixtures(t *testing.T) {
	defer func(f, l func(int64) int64) { firstTradeID, lastTradeID = f, l }(firstTradeID, lastTradeID)
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ms := func(v int64) time.Time { return time.UnixMilli(v) }
	cases := []struct {
		fixture string
		encode  func() []byte
	}{
		{"binance/aggTrade.json", func() []byte {
			firstTradeID = func(int64) int64 { return 100 }
			lastTradeID = func(int64) int64 { return 105 }
			return appendBinanceAggTrade(nil, &Trade{Symbol: "BNBBTC", ID: 12345, Time: ms(1764244800123), Price: "0.001", Size: "100", BuyerMaker: true})
		}},
		{"binance/aggTrades.json", func() []byte {
			firstTradeID = func(int64) int64 { return 27781 }
			lastTradeID = func(int64) int64 { return 27781 }
			return appendBinanceREST(nil, []Trade{{ID: 26129, Time: ms(1764244800153), Price: "0.01633102", Size: "4.70443515", BuyerMaker: true}})
		}},
		{"coinbase/heartbeat.json", func() []byte {
			return appendCoinbaseHeartbeat(nil, "BTC-USD", 90, 20, ts("2025-11-27T12:00:01.464459Z"))
		}},
		{"coinbase/trades.json", func() []byte {
			return appendCoinbaseREST(nil, []Trade{{ID: 74, Time: ts("2025-11-27T12:00:00.578544Z"), Price: "10.00000000", Size: "0.01000000", BuyerMaker: true}})
		}},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			if got, want := string(c.encode()), string(Fixture(c.fixture)); got != want {
				t.Errorf("encoded\n%s\nwant the fixture\n%s", got, want)
			}
		})
	}
}

// A match keeps the documented fields and order; only the order ids are
// the fake's own (derived from the trade id).
func TestCoinbaseMatchLayout(t *testing.T) {
	tm, _ := time.Parse(time.RFC3339Nano, "2025-11-27T12:00:00.028459Z")
	got := string(appendCoinbaseMatch(nil, "match", &Trade{Symbol: "BTC-USD", ID: 10, Sequence: 50, Time: tm, Price: "400.23", Size: "5.23512"}))
	want := `{"type":"match","trade_id":10,"sequence":50,"maker_order_id":"a0000000-0000-0000-0000-00000000000a","taker_order_id":"b0000000-0000-0000-0000-00000000000a","time":"2025-11-27T12:00:00.028459Z","product_id":"BTC-USD","size":"5.23512","price":"400.23","side":"sell"}`
	if got != want {
		t.Errorf("match\n%s\nwant\n%s", got, want)
	}
}
