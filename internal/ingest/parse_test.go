package ingest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/market"
)

const ts0 = 1764244800123

// now0 is the server clock of the tests: one second after ts0.
var now0 = time.UnixMilli(ts0 + 1000)

// parse is Parse with the default limits at now0.
func parse(body []byte) ([]market.Tick, error) { return ingest.Parse(body, market.Limits{}, now0) }

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
			got, err := parse([]byte(tt.body))
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
		name   string
		body   string
		line   int
		reason string
		msg    string // the whole Error() text, when not empty
	}{
		{"empty body", "", 0, "empty", "body: no ticks"},
		{"blank lines only", "\n \n", 0, "empty", "body: no ticks"},
		{"empty array", " [ ] ", 0, "empty", "body: no ticks"},
		{"not json", "hello", 1, "syntax", ""},
		{"bad price on line 3", good + "\n" + good + "\n" + `{"symbol":"AAPL","ts":1764244800123,"price":-1,"size":1}`, 3, "price_too_low", "line 3: price: -1 is below the minimum price 1e-12"},
		{"blank lines count", good + "\n\n" + `{"symbol":"aapl","ts":1764244800123,"price":1}`, 3, "symbol_invalid", ""},
		{"array element 2", "[" + good + ",\n" + `{"symbol":"AAPL","ts":1764244800123,"price":1,"size":-2}` + "]", 2, "size_negative", "line 2: size: -2 is negative"},
		{"unknown field", `{"symbol":"AAPL","ts":1764244800123,"price":1,"seq":5}`, 1, "syntax", `line 1: json: unknown field "seq"`},
		{"missing price", `{"symbol":"AAPL","ts":1764244800123}`, 1, "missing_field", "line 1: price: is required"},
		{"missing ts", `{"symbol":"AAPL","price":1}`, 1, "missing_field", "line 1: ts: is required"},
		{"missing symbol", `{"ts":1764244800123,"price":1}`, 1, "missing_field", "line 1: symbol: is required"},
		{"ts in seconds", `{"symbol":"AAPL","ts":1764244800,"price":1}`, 1, "ts_invalid", ""},
		{"fractional ts", `{"symbol":"AAPL","ts":1764244800123.5,"price":1}`, 1, "ts_invalid", ""},
		{"ts beyond int64", `{"symbol":"AAPL","ts":99999999999999999999,"price":1}`, 1, "ts_invalid", ""},
		{"bad rfc3339", `{"symbol":"AAPL","ts":"yesterday","price":1}`, 1, "ts_invalid", ""},
		{"ts dated 2099", `{"symbol":"AAPL","ts":4070908800000,"price":1}`, 1, "ts_in_future", ""},
		{"ts 6 s ahead", `{"symbol":"AAPL","ts":1764244807123,"price":1}`, 1, "ts_in_future", ""},
		{"ts 8 days old", `{"symbol":"AAPL","ts":1763553600000,"price":1}`, 1, "ts_too_old", ""},
		{"price as string", `{"symbol":"AAPL","ts":1764244800123,"price":"1"}`, 1, "syntax", ""},
		{"null price", `{"symbol":"AAPL","ts":1764244800123,"price":null}`, 1, "syntax", ""},
		{"nan", `{"symbol":"AAPL","ts":1764244800123,"price":NaN}`, 1, "syntax", ""},
		{"overflowing price", `{"symbol":"AAPL","ts":1764244800123,"price":1e999}`, 1, "price_not_finite", "line 1: price: must be a finite number"},
		{"tiny price", `{"symbol":"AAPL","ts":1764244800123,"price":1e-300}`, 1, "price_too_low", ""},
		{"underflowing price", `{"symbol":"AAPL","ts":1764244800123,"price":1e-999}`, 1, "price_too_low", ""},
		{"huge price", `{"symbol":"AAPL","ts":1764244800123,"price":1e13}`, 1, "price_too_high", ""},
		{"huge size", `{"symbol":"AAPL","ts":1764244800123,"price":1,"size":1e308}`, 1, "size_too_large", ""},
		{"overflowing size", `{"symbol":"AAPL","ts":1764244800123,"price":1,"size":1e999}`, 1, "size_not_finite", ""},
		{"huge notional", `{"symbol":"AAPL","ts":1764244800123,"price":1e9,"size":1e9}`, 1, "notional_too_large", ""},
		{"leading zero", `{"symbol":"AAPL","ts":1764244800123,"price":01}`, 1, "syntax", ""},
		{"trailing comma in object", `{"symbol":"AAPL","ts":1764244800123,"price":1,}`, 1, "syntax", ""},
		{"two objects on a line", good + " " + good, 1, "syntax", ""},
		{"object over two lines", "{\"symbol\":\"AAPL\",\n\"ts\":1764244800123,\"price\":1}", 1, "syntax", ""},
		{"unterminated array", "[" + good, 1, "syntax", ""},
		{"trailing garbage after array", "[" + good + "]x", 1, "syntax", ""},
		{"garbage after an empty array", "[]x", 1, "syntax", ""},
		{"missing comma", "[" + good + good + "]", 1, "syntax", ""},
		{"symbol too long", `{"symbol":"` + strings.Repeat("A", 33) + `","ts":1764244800123,"price":1}`, 1, "symbol_invalid", ""},
		{"control char in string", "{\"symbol\":\"AA\tPL\",\"ts\":1764244800123,\"price\":1}", 1, "syntax", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse([]byte(tt.body))
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tt.body, got)
			}
			var be *ingest.BatchError
			if !errors.As(err, &be) || len(be.Lines) == 0 {
				t.Fatalf("Parse(%q) error %T %v is not a *BatchError with lines", tt.body, err, err)
			}
			le := be.Lines[0]
			if le.Line != tt.line || le.Reason() != tt.reason {
				t.Errorf("Parse(%q) first error line %d reason %s, want %d %s (%v)", tt.body, le.Line, le.Reason(), tt.line, tt.reason, err)
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

// TestParseEveryBadLine: a batch with bad lines is rejected whole, naming
// every bad line with its field and reason; NDJSON goes on past a line that
// is not JSON, an array stops there.
func TestParseEveryBadLine(t *testing.T) {
	good := `{"symbol":"AAPL","ts":1764244800123,"price":190.5,"size":10}`
	tests := []struct {
		name string
		body string
		want []string // line:field:reason
	}{
		{"ndjson", good + "\n" + `{"symbol":"AAPL","ts":1764244800123,"price":1e-300}` + "\n\nnot json\n" + good + "\n" +
			`{"symbol":"AAPL","ts":4070908800000,"price":1,"size":1e308}` + "\n" + `{"symbol":"AAPL","ts":"x","price":1}`,
			[]string{"2:price:price_too_low", "4:json:syntax", "6:size:size_too_large", "7:ts:ts_invalid"}},
		{"array values", "[" + good + `,{"symbol":"AAPL","ts":1764244800123,"price":1e-300},` + good + `,{"symbol":"A","ts":1,"price":1}]`,
			[]string{"2:price:price_too_low", "4:ts:ts_invalid"}},
		{"array stops at bad grammar", "[" + `{"symbol":"AAPL","ts":1764244800123,"price":1e-300},{"symbol":5},` + good + "]",
			[]string{"1:price:price_too_low", "2:symbol:syntax"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse([]byte(tt.body))
			var be *ingest.BatchError
			if got != nil || !errors.As(err, &be) {
				t.Fatalf("Parse = %v, %v; want no ticks and a *BatchError", got, err)
			}
			var lines []string
			for _, l := range be.Lines {
				lines = append(lines, fmt.Sprintf("%d:%s:%s", l.Line, l.Field(), l.Reason()))
			}
			if diff := cmp.Diff(tt.want, lines); diff != "" {
				t.Errorf("bad lines (-want +got):\n%s\n%v", diff, err)
			}
		})
	}
}

// TestParseTruncated: the scan stops at MaxLineErrors bad lines.
func TestParseTruncated(t *testing.T) {
	body := strings.Repeat("{}\n", 1000)
	_, err := parse([]byte(body))
	var be *ingest.BatchError
	if !errors.As(err, &be) || len(be.Lines) != ingest.MaxLineErrors || !be.Truncated {
		t.Fatalf("Parse(1000 bad lines) = %v, want %d lines and Truncated", err, ingest.MaxLineErrors)
	}
	if want := "line 1: symbol: is required (and 99 more; the scan stopped there)"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

// TestParseLimits: configured bounds and window are applied.
func TestParseLimits(t *testing.T) {
	lim := market.Limits{MinPrice: 1, MaxPrice: 10, MaxSize: 5, MaxNotional: 20, MaxAhead: time.Minute, MaxAge: time.Hour}
	tests := []struct {
		tick   string
		reason string
	}{
		{`"ts":1764244800123,"price":1,"size":5`, ""},
		{`"ts":1764244800123,"price":0.5`, "price_too_low"},
		{`"ts":1764244800123,"price":11`, "price_too_high"},
		{`"ts":1764244800123,"price":1,"size":6`, "size_too_large"},
		{`"ts":1764244800123,"price":5,"size":5`, "notional_too_large"},
		{`"ts":1764244850000,"price":1`, ""},
		{`"ts":1764244870000,"price":1`, "ts_in_future"},
		{`"ts":1764241300000,"price":1`, ""},
		{`"ts":1764241200000,"price":1`, "ts_too_old"},
	}
	for _, tt := range tests {
		body := `{"symbol":"X",` + tt.tick + "}"
		_, err := ingest.Parse([]byte(body), lim, now0)
		var be *ingest.BatchError
		switch {
		case tt.reason == "" && err != nil:
			t.Errorf("Parse(%s) = %v, want ok", body, err)
		case tt.reason != "" && (!errors.As(err, &be) || be.Lines[0].Reason() != tt.reason):
			t.Errorf("Parse(%s) = %v, want reason %s", body, err, tt.reason)
		}
	}
}

// FuzzParse: whatever the body, Parse either returns ticks that all pass
// the limits at its clock, or no tick and a *BatchError whose lines are
// ascending, each with a known reason, at most MaxLineErrors of them.
// Long run: see docs/security.md, Fuzzing.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`[{"symbol":"BTC-USD","ts":1764244800123,"price":43123.5,"size":0.25}]`))
	f.Add([]byte("{\"symbol\":\"EUR/USD\",\"ts\":\"2025-11-27T12:00:00Z\",\"price\":1.08}\n\n{\"symbol\":\"BRK.B\",\"ts\":1764244800123,\"price\":4e2,\"size\":0}\n"))
	f.Add([]byte(`{"symbol":"EUR\/USD","t\u0073":1764244800124,"price":108e-2}`))
	f.Add([]byte(`[{"symbol":"A","ts":1,"price":-0}, {}]`))
	f.Add([]byte("{\"symbol\":\"P\",\"ts\":1764244800123,\"price\":1e-300}\n{\"symbol\":\"P\",\"ts\":4070908800000,\"price\":1,\"size\":1e308}\nx\n"))
	f.Add([]byte(`[{"symbol":"P","ts":"2099-01-01T00:00:00Z","price":1e999,"size":-1},{"symbol":"P","ts":1764244800123.5,"price":1e9,"size":1e9}]`))
	known := map[string]bool{}
	for _, r := range market.Reasons {
		known[r] = true
	}
	lim := market.DefaultLimits()
	f.Fuzz(func(t *testing.T, body []byte) {
		ticks, err := parse(body)
		if err != nil {
			var be *ingest.BatchError
			if !errors.As(err, &be) || !errors.Is(err, market.ErrInvalid) {
				t.Fatalf("Parse(%q) error %T %v: want a *BatchError matching ErrInvalid", body, err, err)
			}
			if ticks != nil {
				t.Fatalf("Parse(%q) returned ticks with an error", body)
			}
			if len(be.Lines) == 0 || len(be.Lines) > ingest.MaxLineErrors {
				t.Fatalf("Parse(%q) error with %d lines", body, len(be.Lines))
			}
			for i, l := range be.Lines {
				if !known[l.Reason()] || l.Line < 0 || (i > 0 && l.Line <= be.Lines[i-1].Line) {
					t.Fatalf("Parse(%q) bad line error %d %q: %v", body, l.Line, l.Reason(), err)
				}
			}
			return
		}
		if len(ticks) == 0 {
			t.Fatalf("Parse(%q) accepted an empty batch", body)
		}
		for i := range ticks {
			if err := lim.Check(&ticks[i], now0); err != nil {
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
				if _, err := parse(body); err != nil {
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
