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
