package history_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/findash/findash/internal/history"
	"github.com/findash/findash/internal/market"
)

// FuzzParse: no line sequence makes a parser panic; every tick it returns
// passes the tick limits and carries a key of its layout; every error is
// market.ErrInvalid.
func FuzzParse(f *testing.F) {
	f.Add(uint8(1), []byte("agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match\n1,60000.5,0.1,1,1,1709251200000,True,True\n2,60001,0.2,2,3,1709251200001,False,True"))
	f.Add(uint8(1), []byte("3,60000.5,0.1,1,1,1740787200000123,True,True\n4,1e3,0,2,2,1740787200001000,True,True\n"))
	f.Add(uint8(2), []byte("id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\r\n7,1.5,2,3,1709251200000,True,True\r\n"))
	f.Add(uint8(3), []byte("symbol,ts,price,size\nBTC-USD,1709251200000,60000,0.5\nBTC-USD,1709251200000,60001,0.5\nETH-USD,1709251200000,3000,1\n"))
	f.Add(uint8(3), []byte("id,symbol,ts,price\n1,EUR/USD,1709251200000,1.08\n"))
	f.Add(uint8(3), []byte("ts,ts\n"))
	f.Add(uint8(1), []byte("1,NaN,1,1,1,1709251200000,True,True\n"))
	f.Fuzz(func(t *testing.T, layout uint8, data []byte) {
		l := history.Layout(layout%3 + 1)
		p := history.NewParser(l, "BTC-USDT")
		var tk market.Tick
		for _, line := range bytes.Split(data, []byte("\n")) {
			ok, err := p.Parse(line, &tk)
			if err != nil {
				if !errors.Is(err, market.ErrInvalid) {
					t.Fatalf("Parse(%q) error %v: not ErrInvalid", line, err)
				}
				return // a file stops at its first bad line
			}
			if !ok {
				continue
			}
			if verr := tk.Validate(); verr != nil {
				t.Fatalf("Parse(%q) = %+v, which is invalid: %v", line, tk, verr)
			}
			if tk.Seq>>62 != 1 || history.Layout(tk.Seq>>56&0x3f) != l {
				t.Fatalf("Parse(%q) seq %x: not a key of layout %d", line, tk.Seq, l)
			}
		}
	})
}

// benchLines is n aggTrades rows as Binance publishes them (µs).
func benchLines(n int) [][]byte {
	lines := make([][]byte, n)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, "%d,%.8f,%.8f,%d,%d,%d,True,True", 3_000_000_000+i, 95000.12+float64(i%500)*0.01, 0.00012+float64(i%7)*0.001, 4_000_000_000+2*i, 4_000_000_001+2*i, 1740787200000000+int64(i)*1234)
	}
	return lines
}

// BenchmarkParseAggTrades measures the parser alone, in rows/s.
func BenchmarkParseAggTrades(b *testing.B) {
	lines := benchLines(100_000)
	var n int
	for _, l := range lines {
		n += len(l) + 1
	}
	b.SetBytes(int64(n / len(lines)))
	b.ReportAllocs()
	p := history.NewParser(history.LayoutBinanceAggTrades, "BTC-USDT")
	var tk market.Tick
	i := 0
	for b.Loop() {
		if i == len(lines) {
			p, i = history.NewParser(history.LayoutBinanceAggTrades, "BTC-USDT"), 0
		}
		if _, err := p.Parse(lines[i], &tk); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// FuzzNumbersEquivalent: the import's number parsers give strconv's value
// and fail where strconv fails.
func FuzzNumbersEquivalent(f *testing.F) {
	for _, s := range []string{"95000.12000000", "0.00012000", "1740787200000123", "0", "00012.5", "1.", ".5", "", "-1",
		"+1", "1e3", "NaN", "inf", "9007199254740993", "9007199254740992.5", "0.1234567890123456789", "99999999999999999999",
		"18446744073709551615", "18446744073709551616", "9223372036854775808", "1_000", "0x10", "1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		gotF, errF := history.ParseFloat(b)
		wantF, werrF := strconv.ParseFloat(s, 64)
		if (errF == nil) != (werrF == nil) || (errF == nil && math.Float64bits(gotF) != math.Float64bits(wantF)) {
			t.Fatalf("parseFloat(%q) = %v, %v; strconv: %v, %v", s, gotF, errF, wantF, werrF)
		}
		gotU, errU := history.ParseUint(b)
		wantU, werrU := strconv.ParseUint(s, 10, 64)
		if (errU == nil) != (werrU == nil) || gotU != wantU && errU == nil {
			t.Fatalf("parseUint(%q) = %v, %v; strconv: %v, %v", s, gotU, errU, wantU, werrU)
		}
		gotI, errI := history.ParseInt(b)
		wantI, werrI := strconv.ParseInt(s, 10, 64)
		if (errI == nil) != (werrI == nil) || gotI != wantI && errI == nil {
			t.Fatalf("parseInt(%q) = %v, %v; strconv: %v, %v", s, gotI, errI, wantI, werrI)
		}
	})
}

// The number parsers agree with strconv on 300,000 decimals of every
// length up to 24 digits, with and without a fraction.
func TestNumbersAgreeWithStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300_000 {
		var b []byte
		for range 1 + rng.IntN(12) {
			b = append(b, byte('0'+rng.IntN(10)))
		}
		if rng.IntN(4) > 0 {
			b = append(b, '.')
			for range 1 + rng.IntN(12) {
				b = append(b, byte('0'+rng.IntN(10)))
			}
		}
		got, err := history.ParseFloat(b)
		want, werr := strconv.ParseFloat(string(b), 64)
		if err != nil || werr != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("parseFloat(%q) = %v, %v; strconv: %v, %v", b, got, err, want, werr)
		}
	}
}
