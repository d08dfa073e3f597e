package gateway

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/findash/findash/internal/market"
)

// TestEncodeDataMatchesJSON: a snapshot's data written by hand (nil, a
// quote) is byte for byte what encoding/json writes, and a quote it cannot
// write so (an escaped symbol, NaN) goes through encoding/json as before.
func TestEncodeDataMatchesJSON(t *testing.T) {
	viaJSON := func(data any) (string, error) {
		d, err := json.Marshal(data)
		if err != nil {
			return "", err
		}
		return `{"type":"snapshot","channel":"ticks:X","data":` + string(d) + `}`, nil
	}
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99e-7, 1e-9, -3.2e-12, 1e20, 1e21, 123456789.123456789,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 42000.5, 1.0000001}
	r := rand.New(rand.NewPCG(1, 2))
	pick := func() float64 {
		if r.IntN(3) == 0 {
			return floats[r.IntN(len(floats))]
		}
		return (r.Float64() - 0.3) * math.Pow(10, float64(r.IntN(40)-20))
	}
	cases := []any{nil}
	for i := range 2000 {
		q := market.Quote{Symbol: []string{"BTC-USD", "ETH/USDT", "A.B_C", "ü", "<x>", `a"b`, "a\\b", "\x01", "a&b", ""}[i%10],
			Price: pick(), TS: r.Int64() - r.Int64(), Seq: r.Uint64(), Open24h: pick(), High24h: pick(), Low24h: pick(),
			Volume24h: pick(), Change24h: pick(), ChangePct24h: pick()}
		cases = append(cases, q)
	}
	cases = append(cases, market.Quote{Symbol: "X", Price: math.NaN()}, market.Quote{Symbol: "X", Volume24h: math.Inf(1)})
	for _, data := range cases {
		want, wantErr := viaJSON(data)
		got, err := encodeData("snapshot", "ticks:X", data)
		if (err != nil) != (wantErr != nil) || string(got) != want {
			t.Fatalf("%+v:\n got %s (%v)\nwant %s (%v)", data, got, err, want, wantErr)
		}
	}
}

// TestAppendTickMatchesJSON: a tick message written by hand is byte for
// byte what encoding/json writes for the same fields in the same order —
// prices and sizes as they arrive (short decimals, which market's fast
// path formats) and any other finite float (strconv's) alike.
func TestAppendTickMatchesJSON(t *testing.T) {
	type data struct {
		Symbol string  `json:"symbol"`
		TS     int64   `json:"ts"`
		Price  float64 `json:"price"`
		Size   float64 `json:"size"`
	}
	type msg struct {
		Type    string `json:"type"`
		Channel string `json:"channel"`
		Seq     uint64 `json:"seq"`
		Data    data   `json:"data"`
	}
	r := rand.New(rand.NewPCG(3, 4))
	pick := func() float64 {
		switch r.IntN(4) {
		case 0: // a decimal as a feed sends it: up to 15 digits, the point anywhere
			m := r.Int64N(int64(math.Pow10(1 + r.IntN(15))))
			return float64(m) / math.Pow10(r.IntN(12))
		case 1:
			return []float64{0, math.Copysign(0, -1), 1e-6, 9.99e-7, 1e-9, 1e20, 1e21, 1e15, 999999999999999,
				math.MaxFloat64, math.SmallestNonzeroFloat64, 0.1 + 0.2, 43123.5, 0.25}[r.IntN(14)]
		case 2:
			return math.Float64frombits(r.Uint64())
		}
		return (r.Float64() - 0.3) * math.Pow(10, float64(r.IntN(40)-20))
	}
	var b []byte
	for range 100_000 {
		tk := market.Tick{Symbol: "BTC-USD", TS: r.Int64() - r.Int64(), Seq: r.Uint64(), Price: pick(), Size: pick()}
		if math.IsNaN(tk.Price) || math.IsInf(tk.Price, 0) || math.IsNaN(tk.Size) || math.IsInf(tk.Size, 0) {
			continue // validation keeps them out; encoding/json refuses them
		}
		want, err := json.Marshal(msg{"tick", "ticks:BTC-USD", tk.Seq, data{tk.Symbol, tk.TS, tk.Price, tk.Size}})
		if err != nil {
			t.Fatal(err)
		}
		b = appendTick(b[:0], "ticks:BTC-USD", &tk)
		if string(b) != string(want) {
			t.Fatalf("%+v:\n got %s\nwant %s", tk, b, want)
		}
	}
}

// BenchmarkAppendTick: one tick message as the hub encodes it, with a
// price and size as feeds send them.
func BenchmarkAppendTick(b *testing.B) {
	ticks := []market.Tick{
		{Symbol: "BTC-USD", TS: 1764244800000, Seq: 123456 << 16, Price: 43123.5, Size: 0.25},
		{Symbol: "ETH-USD", TS: 1764244800001, Seq: 123457 << 16, Price: 2291.37, Size: 1.0042},
		{Symbol: "SYM042", TS: 1764244800002, Seq: 123458 << 16, Price: 100.06, Size: 3},
		{Symbol: "EURUSD", TS: 1764244800003, Seq: 123459 << 16, Price: 1.08417, Size: 100000},
	}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = appendTick(buf[:0], "ticks:SYM", &ticks[i%len(ticks)])
	}
}
