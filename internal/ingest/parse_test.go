package ingest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/market"
)

const ts0 = 1764244800123

func TestParse(t *testing.T) {
	btc := market.Tick{Symbol: "BTC-USD", TS: ts0, Price: 43123.5, Size: 0.25}
	eur := market.Tick{Symbol: "EUR/USD", TS: ts0 + 1, Price: 1.08, Size: 0}
	tests := []struct {
		name string
		body string
		want []market.Tick
	}{
		{"array", `[{"symbol":"BTC-USD","ts":1764244800123,"price":43123.5,"size":0.25}]`, []market.Tick{btc}},
		{"array with whitespace", " [\n {\"symbol\" : \"BTC-USD\", \"ts\": 1764244800123,\n\"price\":43123.5,\"size\":0.25} ,\r\n{\"symbol\":\"EUR/USD\",\"ts\":1764244800124,\"price\":1.08,\"size\":0}\n]\n", []market.Tick{btc, eur}},
		{"ndjson", "{\"symbol\":\"BTC-USD\",\"ts\":1764244800123,\"price\":43123.5,\"size\":0.25}\n\n{\"symbol\":\"EUR/USD\",\"ts\":1764244800124,\"price\":1.08,\"size\":0}", []market.Tick{btc, eur}},
		{"ndjson crlf and trailing newline", "{\"symbol\":\"BTC-USD\",\"ts\":1764244800123,\"price\":43123.5,\"size\":0.25}\r\n\r\n", []market.Tick{btc}},
		{"rfc3339 ts", `[{"symbol":"BTC-USD","ts":"2025-11-27T12:00:00.123Z","price":43123.5,"size":0.25}]`, []market.Tick{btc}},
		{"rfc3339 with offset", `{"symbol":"BTC-USD","ts":"2025-11-27T13:00:00.123+01:00","price":43123.5,"size":0.25}`, []market.Tick{btc}},
		{"size omitted", `{"symbol":"EUR/USD","ts":1764244800124,"price":1.08}`, []market.Tick{eur}},
		{"escaped slash and key", `{"symbol":"EUR\/USD","t\u0073":1764244800124,"price":108e-2}`, []market.Tick{eur}},
		{"field order free", `{"size":0.25,"price":43123.5,"ts":1764244800123,"symbol":"BTC-USD"}`, []market.Tick{btc}},
		{"dotted symbol", `{"symbol":"BRK.B","ts":1764244800123,"price":412.3,"size":1}`, []market.Tick{{Symbol: "BRK.B", TS: ts0, Price: 412.3, Size: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ingest.Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	good := `{"symbol":"AAPL","ts":1764244800123,"price":190.5,"size":10}`
	tests := []struct {
		name string
		body string
		line int
		msg  string // the whole Error() text, when not empty
	}{
		{"empty body", "", 0, "body: no ticks"},
		{"blank lines only", "\n \n", 0, "body: no ticks"},
		{"empty array", " [ ] ", 0, "body: no ticks"},
		{"not json", "hello", 1, ""},
		{"bad price on line 3", good + "\n" + good + "\n" + `{"symbol":"AAPL","ts":1764244800123,"price":-1,"size":1}`, 3, "line 3: price: must be > 0 and finite"},
		{"blank lines count", good + "\n\n" + `{"symbol":"aapl","ts":1764244800123,"price":1}`, 3, ""},
		{"array element 2", "[" + good + ",\n" + `{"symbol":"AAPL","ts":1764244800123,"price":1,"size":-2}` + "]", 2, "line 2: size: must be >= 0 and finite"},
		{"unknown field", `{"symbol":"AAPL","ts":1764244800123,"price":1,"seq":5}`, 1, `line 1: json: unknown field "seq"`},
		{"missing price", `{"symbol":"AAPL","ts":1764244800123}`, 1, "line 1: price: is required"},
		{"missing ts", `{"symbol":"AAPL","price":1}`, 1, "line 1: ts: is required"},
		{"missing symbol", `{"ts":1764244800123,"price":1}`, 1, "line 1: symbol: is required"},
		{"ts in seconds", `{"symbol":"AAPL","ts":1764244800,"price":1}`, 1, ""},
		{"fractional ts", `{"symbol":"AAPL","ts":1764244800123.5,"price":1}`, 1, ""},
		{"bad rfc3339", `{"symbol":"AAPL","ts":"yesterday","price":1}`, 1, ""},
		{"price as string", `{"symbol":"AAPL","ts":1764244800123,"price":"1"}`, 1, ""},
		{"null price", `{"symbol":"AAPL","ts":1764244800123,"price":null}`, 1, ""},
		{"nan", `{"symbol":"AAPL","ts":1764244800123,"price":NaN}`, 1, ""},
		{"huge price", `{"symbol":"AAPL","ts":1764244800123,"price":1e999}`, 1, "line 1: price: must be > 0 and finite"},
		{"leading zero", `{"symbol":"AAPL","ts":1764244800123,"price":01}`, 1, ""},
		{"trailing comma in object", `{"symbol":"AAPL","ts":1764244800123,"price":1,}`, 1, ""},
		{"two objects on a line", good + " " + good, 1, ""},
		{"object over two lines", "{\"symbol\":\"AAPL\",\n\"ts\":1764244800123,\"price\":1}", 1, ""},
		{"unterminated array", "[" + good, 1, ""},
		{"trailing garbage after array", "[" + good + "]x", 1, ""},
		{"missing comma", "[" + good + good + "]", 1, ""},
		{"symbol too long", `{"symbol":"` + strings.Repeat("A", 33) + `","ts":1764244800123,"price":1}`, 1, ""},
		{"control char in string", "{\"symbol\":\"AA\tPL\",\"ts\":1764244800123,\"price\":1}", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ingest.Parse([]byte(tt.body))
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tt.body, got)
			}
			var le *ingest.LineError
			if !errors.As(err, &le) {
				t.Fatalf("Parse(%q) error %T %v is not a *LineError", tt.body, err, err)
			}
			if le.Line != tt.line {
				t.Errorf("Parse(%q) error line = %d, want %d (%v)", tt.body, le.Line, tt.line, err)
			}
			if !errors.Is(err, market.ErrInvalid) {
				t.Errorf("Parse(%q) error %v does not match market.ErrInvalid", tt.body, err)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("Parse(%q) error = %q, want %q", tt.body, err.Error(), tt.msg)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`[{"symbol":"BTC-USD","ts":1764244800123,"price":43123.5,"size":0.25}]`))
	f.Add([]byte("{\"symbol\":\"EUR/USD\",\"ts\":\"2025-11-27T12:00:00Z\",\"price\":1.08}\n\n{\"symbol\":\"BRK.B\",\"ts\":1764244800123,\"price\":4e2,\"size\":0}\n"))
	f.Add([]byte(`{"symbol":"EUR\/USD","t\u0073":1764244800124,"price":108e-2}`))
	f.Add([]byte(`[{"symbol":"A","ts":1,"price":-0}, {}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ticks, err := ingest.Parse(body)
		if err != nil {
			var le *ingest.LineError
			if !errors.As(err, &le) || !errors.Is(err, market.ErrInvalid) {
				t.Fatalf("Parse(%q) error %T %v: want a *LineError matching ErrInvalid", body, err, err)
			}
			if ticks != nil {
				t.Fatalf("Parse(%q) returned ticks with an error", body)
			}
			return
		}
		if len(ticks) == 0 {
			t.Fatalf("Parse(%q) accepted an empty batch", body)
		}
		for i := range ticks {
			if err := ticks[i].Validate(); err != nil {
				t.Fatalf("Parse(%q) accepted an invalid tick %+v: %v", body, ticks[i], err)
			}
		}
	})
}

// batch returns n ticks over 20 symbols as NDJSON or a JSON array.
func batch(n int, array bool) []byte {
	var sb strings.Builder
	if array {
		sb.WriteByte('[')
	}
	for i := 0; i < n; i++ {
		if array && i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"symbol":"SYM-%02d","ts":%d,"price":%.4f,"size":%.3f}`, i%20, ts0+int64(i), 100+float64(i%1000)/7, float64(i%13)/3)
		if !array {
			sb.WriteByte('\n')
		}
	}
	if array {
		sb.WriteByte(']')
	}
	return []byte(sb.String())
}

func BenchmarkParse(b *testing.B) {
	for _, format := range []string{"ndjson", "array"} {
		body := batch(1000, format == "array")
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := ingest.Parse(body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "ticks/s")
		})
	}
}

// BenchmarkParseEncodingJSON is the baseline the hand-written scanner must
// beat to earn its keep: encoding/json into the same structs, no validation.
func BenchmarkParseEncodingJSON(b *testing.B) {
	body := batch(1000, true)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var ticks []market.Tick
		if err := json.Unmarshal(body, &ticks); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "ticks/s")
}
