package feed

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/feed/fakeexchange"
)

// seeds adds every fixture of venue to f's corpus.
func seeds(f *testing.F, venue string) {
	err := fs.WalkDir(fakeexchange.Fixtures, "fixtures/"+venue, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f.Add(fakeexchange.Fixture(strings.TrimPrefix(p, "fixtures/")))
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

// checkParsed fails when a parser let through a trade that breaks the tick
// contract.
func checkParsed(t *testing.T, trades []Trade, err error) {
	if err != nil {
		return
	}
	for i := range trades {
		tr := trades[i]
		if tr.Symbol == "" {
			continue
		}
		if verr := validate(&tr); verr != nil {
			t.Fatalf("parsed an invalid trade %+v: %v", tr, verr)
		}
	}
}

func FuzzBinanceParse(f *testing.F) {
	seeds(f, "binance")
	f.Add([]byte(`{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT","a":1,"p":"1e400","q":"1","T":1764244800123}}`))
	b := &binance{names: map[string]string{"BNBBTC": "BNB-BTC", "BTCUSDT": "BTC-USDT"}}
	f.Fuzz(func(t *testing.T, msg []byte) {
		trades, _, err := b.parse(msg, nil)
		checkParsed(t, trades, err)
	})
}

// FuzzBinanceFastEquivalent: whatever the hand-written decoder accepts,
// encoding/json decodes without error to the same envelope (so the two
// paths of binance.parse can never disagree).
func FuzzBinanceFastEquivalent(f *testing.F) {
	seeds(f, "binance")
	for _, s := range []string{
		`{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1","q":"1","f":2,"l":2,"T":1764244800123,"m":false,"M":true}}`,
		`{"stream":"x","data":{"a":1},"data":{"s":"Y"},"stream":"y"}`,
		`{"stream":"x","data":{"a":-0,"T":007}}`,
		`{"data":{"E":999999999999999999,"a":-999999999999999999}}`,
		`{"stream":"a\u0041","data":{}}`, `{"stream":"é"}`, `{} `, `{}`, `{"data":{"m":true,"M":false}}`,
		`{"data":{"A":1,"S":"x","P":"1"}}`, `{"data":{"a":1.5}}`, `{"data":{"a":1e3}}`, `{"data":{"a":null}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var fast, slow binanceEnvelope
		if !fastBinanceEnvelope(msg, &fast) {
			return
		}
		if err := json.Unmarshal(msg, &slow); err != nil {
			t.Fatalf("fast decoder accepted %q, encoding/json: %v", msg, err)
		}
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Fatalf("fast decoder of %q differs from encoding/json (-json +fast):\n%s", msg, diff)
		}
	})
}

func FuzzCoinbaseParse(f *testing.F) {
	seeds(f, "coinbase")
	f.Add([]byte(`{"type":"last_match","trade_id":1,"sequence":2,"time":"2025-11-27T12:00:00Z","product_id":"BTC-USD","size":"0","price":"1"}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c := &coinbase{seq: map[string]int64{}}
		trades, _, err := c.parse(msg, nil)
		checkParsed(t, trades, err)
	})
}

// The documented examples parse to the documented values.
func TestParseFixtures(t *testing.T) {
	b := &binance{names: map[string]string{"BNBBTC": "BNB-BTC"}}
	got, ev, err := b.parse(fakeexchange.Fixture("binance/aggTrade.json"), nil)
	want := Trade{Symbol: "BNB-BTC", ID: 12345, TS: 1764244800123, Price: 0.001, Size: 100}
	if err != nil || ev.kind != kindTrades || len(got) != 1 || got[0] != want {
		t.Errorf("binance aggTrade = %+v, %v, %v; want %+v", got, ev, err, want)
	}
	c := &coinbase{seq: map[string]int64{}}
	got, ev, err = c.parse(fakeexchange.Fixture("coinbase/match.json"), nil)
	want = Trade{Symbol: "BTC-USD", ID: 10, TS: 1764244800028, Price: 400.23, Size: 5.23512}
	if err != nil || ev.kind != kindTrades || len(got) != 1 || got[0] != want {
		t.Errorf("coinbase match = %+v, %v, %v; want %+v", got, ev, err, want)
	}
	_, ev, err = c.parse(fakeexchange.Fixture("coinbase/heartbeat.json"), nil)
	if err != nil || ev != (event{kind: kindHeartbeat, symbol: "BTC-USD", lastID: 20}) {
		t.Errorf("coinbase heartbeat = %+v, %v", ev, err)
	}
	for _, name := range []string{"coinbase/subscriptions.json"} {
		if _, ev, err := c.parse(fakeexchange.Fixture(name), nil); err != nil || ev.kind != kindControl {
			t.Errorf("%s = %+v, %v; want a control message", name, ev, err)
		}
	}
	if _, ev, err := c.parse(fakeexchange.Fixture("coinbase/error.json"), nil); err != nil || ev.kind != kindUnknown {
		t.Errorf("coinbase error = %+v, %v; want counted as unknown", ev, err)
	}
}

// FuzzCoinbaseFastEquivalent: whatever the hand-written decoder accepts,
// encoding/json decodes without error to the same message (so the two
// paths of coinbase.parse can never disagree).
func FuzzCoinbaseFastEquivalent(f *testing.F) {
	seeds(f, "coinbase")
	for _, s := range []string{
		`{"type":"match","trade_id":1,"sequence":2,"time":"2025-11-27T12:00:00Z","product_id":"BTC-USD","size":"0","price":"1"}`,
		`{"type":"last_match","trade_id":1,"trade_id":2,"product_id":"ETH-USD","product_id":"BTC-USD"}`,
		`{"type":"heartbeat","sequence":-0,"last_trade_id":999999999999999999,"product_id":"X"}`,
		`{"type":"match","trade_id":007}`, `{"type":"match","trade_id":1.5}`, `{"type":"match","trade_id":null}`,
		`{"Type":"match"}`, `{"type":"m\u0061tch"}`, `{"type":"é"}`, `{"side":1}`, `{} `, `{}`,
	} {
		f.Add([]byte(s))
	}
	products := map[string]string{"BTC-USD": "BTC-USD"}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var fast, slow coinbaseMsg
		if !fastCoinbaseMsg(msg, &fast, products) {
			return
		}
		if err := json.Unmarshal(msg, &slow); err != nil {
			t.Fatalf("fast decoder accepted %q, encoding/json: %v", msg, err)
		}
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Fatalf("fast decoder of %q differs from encoding/json (-json +fast):\n%s", msg, diff)
		}
	})
}

// FuzzCoinbaseTimeEquivalent: whatever time the hand-written parser
// accepts, time.Parse accepts with the same milliseconds.
func FuzzCoinbaseTimeEquivalent(f *testing.F) {
	for _, s := range []string{
		"2025-11-27T12:00:00.028459Z", "2025-11-27T12:00:00Z", "2025-11-27T12:00:00.1Z", "2025-11-27T12:00:00.123456789Z",
		"2024-02-29T23:59:59.999Z", "2025-02-29T00:00:00Z", "1969-12-31T23:59:59.5Z", "0000-01-01T00:00:00Z",
		"9999-12-31T23:59:59.9999999999Z", "2025-11-27T24:00:00Z", "2025-11-27T12:00:60Z", "2025-11-27T12:00:00.Z",
		"2025-11-27T12:00:00+00:00", "2025-13-01T00:00:00Z", "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, ok := fastCoinbaseTime(s)
		if !ok {
			return
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("fastCoinbaseTime(%q) = %d, time.Parse: %v", s, ms, err)
		}
		if want := tm.UnixMilli(); ms != want {
			t.Fatalf("fastCoinbaseTime(%q) = %d, time.Parse gives %d", s, ms, want)
		}
	})
}
