package market_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/findash/findash/internal/market"
)

func TestRoundDerived(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{100.1 - 104.06, -3.96},
		{0.1 + 0.2, 0.3},
		{(100.1 - 104.06) / 104.06 * 100, -3.80549682875},
		{1.5, 1.5},
		{123456789012345, 123456789012000},
		{1e-9 + 2e-9, 3e-9},
		{0, 0},
		{-0.000123456789012345, -0.000123456789012},
		{1.23456789012345e-30, 1.23456789012e-30},
		{9.99999999999999e40, 1e41},
	}
	for _, tt := range tests {
		if got := market.RoundDerived(tt.in); got != tt.want {
			t.Errorf("RoundDerived(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	// Any value comes back as a decimal of at most 12 significant digits,
	// within half a unit of the 12th.
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		f := (rng.Float64() - 0.5) * math.Pow10(rng.IntN(60)-30)
		r := market.RoundDerived(f)
		s := strconv.FormatFloat(r, 'e', -1, 64)
		mant, _, _ := strings.Cut(strings.TrimPrefix(s, "-"), "e")
		if digits := len(strings.Replace(mant, ".", "", 1)); digits > 12 {
			t.Fatalf("RoundDerived(%v) = %s: %d digits", f, s, digits)
		}
		if f != 0 && math.Abs(r-f)/math.Abs(f) > 1e-11 {
			t.Fatalf("RoundDerived(%v) = %v: off by more than the 12th digit", f, r)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := market.RoundDerived(f); !(got == f || math.IsNaN(got) && math.IsNaN(f)) {
			t.Errorf("RoundDerived(%v) = %v", f, got)
		}
	}
}

// TestJSONWithoutFloatNoise: a quote's change and volume (rounded where the
// quote is derived) and a candle's volume (rounded when encoded) leave as
// the shortest decimal; prices as they came in.
func TestJSONWithoutFloatNoise(t *testing.T) {
	var st market.Stats
	ts := int64(1_700_000_000_000)
	for i, p := range []float64{104.06, 100.1} {
		st.Add(&market.Tick{Symbol: "NOISE", TS: ts + int64(i)*1000, Seq: uint64(i + 1), Price: p, Size: []float64{0.1, 0.2}[i]})
	}
	var q market.Quote
	if !st.Quote("NOISE", &q) {
		t.Fatal("no quote")
	}
	if a, b := 100.1, 104.06; a-b == -3.96 {
		t.Fatal("the test lost its noise: 100.1 - 104.06 should not be exactly -3.96 in float64")
	}
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"price":100.1,`, `"change_24h":-3.96,`, `"change_pct_24h":-3.80549682875}`, `"volume_24h":0.3,`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("quote JSON %s lacks %s", b, want)
		}
	}

	c := market.NewCandle(market.Interval1m, &market.Tick{Symbol: "NOISE", TS: ts, Seq: 1, Price: 104.06, Size: 0.1})
	c.Apply(&market.Tick{Symbol: "NOISE", TS: ts + 1, Seq: 2, Price: 100.1, Size: 0.2})
	b, err = json.Marshal([]*market.Candle{&c})
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"symbol":"NOISE","interval":"1m","start":1699999980000,"open":104.06,"high":104.06,"low":100.1,"close":100.1,"volume":0.3,"count":2}]`; string(b) != want {
		t.Errorf("candle JSON = %s\nwant %s", b, want)
	}
}

type plainCandle market.Candle // encoding/json's view, without MarshalJSON

// TestMarshalJSONMatchesTags: the hand-written encoder writes what
// encoding/json writes from the tags (after rounding the volume), for every
// field, so a field added to Candle without its encoder fails here.
func TestMarshalJSONMatchesTags(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	floats := []float64{0, 1e-7, -2.5e-9, 1e21, 123.456, -0.1 - 0.2}
	fill := func(v reflect.Value, i int) {
		for f := range v.NumField() {
			fv := v.Field(f)
			switch fv.Kind() {
			case reflect.String:
				fv.SetString([]string{"BTC-USD", "A/B", `we"ird<&>é`}[i%3])
			case reflect.Float64:
				if i < len(floats) {
					fv.SetFloat(floats[(i+f)%len(floats)])
				} else {
					fv.SetFloat((rng.Float64() - 0.5) * math.Pow10(rng.IntN(12)))
				}
			case reflect.Int64:
				fv.SetInt(rng.Int64N(1 << 50))
			case reflect.Uint64:
				fv.SetUint(rng.Uint64())
			case reflect.Uint8, reflect.Int, reflect.Uint:
				fv.SetUint(uint64(rng.IntN(market.NumIntervals))) // Interval
			default:
				t.Fatalf("field %s of kind %s: teach this test its values", v.Type().Field(f).Name, fv.Kind())
			}
		}
	}
	for i := range 200 {
		var c market.Candle
		fill(reflect.ValueOf(&c).Elem(), i)
		pc := plainCandle(c)
		pc.Volume = market.RoundDerived(pc.Volume)
		compareJSON(t, c, pc)
	}
}

func compareJSON(t *testing.T, v, plain any) {
	t.Helper()
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("MarshalJSON = %s\nencoding/json = %s", got, want)
	}
}

func BenchmarkMarshalCandle(b *testing.B) {
	c := market.NewCandle(market.Interval1m, &market.Tick{Symbol: "NOISE", TS: 1700000000000, Seq: 1, Price: 104.06, Size: 0.1})
	c.Apply(&market.Tick{Symbol: "NOISE", TS: 1700000000001, Seq: 2, Price: 100.1, Size: 0.2})
	for b.Loop() {
		json.Marshal(&c)
	}
}

func BenchmarkMarshalQuotes100(b *testing.B) {
	qs := make([]market.Quote, 100)
	for i := range qs {
		qs[i] = market.Quote{Symbol: "SYM", Price: 100.1, Change24h: -3.960000000000008, ChangePct24h: -3.8054968287526427, Volume24h: 12345.600000000002}
	}
	for b.Loop() {
		json.Marshal(qs)
	}
}

// BenchmarkCandleAppendJSON: one candle of tick prices and a summed volume,
// as a candle list renders it.
func BenchmarkCandleAppendJSON(b *testing.B) {
	c := market.NewCandle(market.Interval1m, &market.Tick{Symbol: "B0000", TS: 1700000000000, Seq: 1, Price: 104.06, Size: 0.1})
	c.Apply(&market.Tick{Symbol: "B0000", TS: 1700000000001, Seq: 2, Price: 100.1, Size: 0.2})
	c.Apply(&market.Tick{Symbol: "B0000", TS: 1700000000002, Seq: 3, Price: 101.35, Size: 3})
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.AppendJSON(buf[:0])
	}
}
