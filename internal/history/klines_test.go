package history_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/history"
	"github.com/findash/findash/internal/market"
)

// formatKlines writes 1m candles as Binance's klines dump, with a header or
// not, times in µs or ms, and one minute without trades after the last
// (Binance publishes such rows; they hold no candle).
func formatKlines(cs []market.Candle, header, micros bool) []byte {
	var b bytes.Buffer
	unit := int64(1)
	if micros {
		unit = 1000
	}
	if header {
		b.WriteString("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n")
	}
	row := func(start int64, o, h, l, c, v float64, n int64) {
		fmt.Fprintf(&b, "%d,%v,%v,%v,%v,%v,%d,%v,%d,%v,%v,0\n", start*unit, o, h, l, c, v, (start+59_999)*unit+unit-1, v*c, n, v/2, v*c/2)
	}
	for _, c := range cs {
		row(c.Start, c.Open, c.High, c.Low, c.Close, c.Volume, c.Count)
	}
	last := cs[len(cs)-1]
	row(last.Start+60_000, last.Close, last.Close, last.Close, last.Close, 0, 0)
	return b.Bytes()
}

// ohlcvCount drops what a kline cannot know: the seqs and the times of the
// first and last trade (a kline gives its minute's open and close time).
func ohlcvCount(cs []market.Candle) []market.Candle {
	out := ohlcv(cs)
	for i := range out {
		out[i].FirstTS, out[i].LastTS = 0, 0
	}
	return out
}

// TestImportKlines: a 1m klines file (zip and plain, header and not, ms and
// µs) imports as candles: the stored 1m, 5m, 1h and 1d candles equal the
// trades the klines were made from rolled up; no 1s candle is made; a
// second import of the file, or of a file overlapping it, changes nothing.
func TestImportKlines(t *testing.T) { forEachStore(t, testImportKlines) }

func testImportKlines(t *testing.T, openDB func(*testing.T) history.Store) {
	dir := t.TempDir()
	tests := []struct {
		name                  string
		header, micro, zipped bool
		start                 int64
	}{
		{"BTCUSDT-1m-2024-03-01", false, false, true, day0},
		{"BTCUSDT-1m-2024-03-02", true, false, false, day0},
		{"ETHUSDT-1m-2025-03-01", true, true, true, day1},
		{"ETHUSDT-1m-2025-03-02", false, true, false, day1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			trades := genTrades(3000, 1, tc.start)
			layout, sym, err := history.BinanceFile(tc.name+".zip", "")
			if err != nil || layout != history.LayoutBinanceKlines1m {
				t.Fatalf("BinanceFile(%s) = %v, %v; want klines", tc.name, layout, err)
			}
			minutes := wantCandles(sym, trades, market.Interval1m)
			im := history.New(db, history.Config{Batch: 70}, nil)
			// First the first half, then the whole file: the overlap is skipped.
			half := writeFile(t, dir, tc.name+"-half", formatKlines(minutes[:len(minutes)/2], tc.header, tc.micro), tc.zipped)
			if _, err := im.ImportFile(t.Context(), half, layout, sym); err != nil {
				t.Fatalf("ImportFile(half) error: %v", err)
			}
			path := writeFile(t, dir, tc.name, formatKlines(minutes, tc.header, tc.micro), tc.zipped)
			res, err := im.ImportFile(t.Context(), path, layout, sym)
			n := int64(len(minutes))
			if err != nil || res.Rows != n || res.Written != n-n/2 || res.Micros != tc.micro {
				t.Fatalf("ImportFile(%s) = %+v, %v; want %d rows, %d written, micros %v", path, res, err, n, n-n/2, tc.micro)
			}
			check := func() {
				t.Helper()
				for _, iv := range []market.Interval{market.Interval1m, market.Interval5m, market.Interval1h, market.Interval1d} {
					want := ohlcvCount(wantCandles(sym, trades, iv))
					got := ohlcvCount(candlesOf(t, db, sym, iv, tc.start-86_400_000, tc.start+2*86_400_000))
					if diff := cmp.Diff(want, got, approx); diff != "" {
						t.Fatalf("%s %s candles (-want +got):\n%s", sym, iv, diff)
					}
				}
				if got := candlesOf(t, db, sym, market.Interval1s, tc.start-86_400_000, tc.start+2*86_400_000); len(got) != 0 {
					t.Errorf("klines made %d 1s candles, want none", len(got))
				}
			}
			check()
			again, err := im.ImportFile(t.Context(), path, layout, sym)
			if err != nil || again.Rows != n || again.Written != 0 {
				t.Errorf("second ImportFile(%s) = %+v, %v; want %d rows, 0 written", path, again, err, n)
			}
			check()
		})
	}
}

func TestImportKlinesErrors(t *testing.T) {
	dir := t.TempDir()
	row := func(open, closeTS int64, o, h, l, c string) string {
		return fmt.Sprintf("%d,%s,%s,%s,%s,1.5,%d,90000,12,0.7,42000,0\n", open, o, h, l, c, closeTS)
	}
	tests := []struct {
		name, body, want string
	}{
		{"misaligned", row(day0+1000, day0+59_999, "10", "11", "9", "10"), "minute"},
		{"wider", row(day0, day0+299_999, "10", "11", "9", "10"), "close time"},
		{"highlow", row(day0, day0+59_999, "10", "9", "11", "10"), "low"},
		{"order", row(day0+60_000, day0+119_999, "10", "11", "9", "10") + row(day0, day0+59_999, "10", "11", "9", "10"), "line 2"},
		{"fields", "1709251200000,10,11,9,10,1.5,1709251259999,90000,12\n", "fields"},
		{"price", row(day0, day0+59_999, "-10", "11", "-11", "10"), "price"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, "BTCUSDT-1m-"+tc.name, []byte(tc.body), false)
			_, err := history.New(openDB(t), history.Config{}, nil).ImportFile(t.Context(), path, history.LayoutBinanceKlines1m, "BTC-USDT")
			if !errors.Is(err, market.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ImportFile(%q) error = %v, want ErrInvalid mentioning %q", tc.body, err, tc.want)
			}
		})
	}
}

// FuzzParseKline: no line sequence makes a klines parser panic; every
// candle it returns is a non-empty 1m candle with low ≤ open, close ≤ high,
// a key of the klines layout, in increasing order; every error is
// market.ErrInvalid.
func FuzzParseKline(f *testing.F) {
	f.Add([]byte("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n1709251200000,60000.5,60010,59990,60001,1.25,1709251259999,75000,42,0.5,30000,0\n1709251260000,60001,60001,60001,60001,0,1709251319999,0,0,0,0,0\n"))
	f.Add([]byte("1740787200000000,95000,95100,94900,95050,3.5,1740787259999999,332500,100,1.5,142500,0\r\n1740787260000000,95050,95060,95000,95010,2,1740787319999999,190000,50,1,95000,0\r\n"))
	f.Add([]byte("1709251200123,1,1,1,1,1,1709251259999,1,1,1,1,0\n"))
	f.Add([]byte("1709251200000,NaN,1,1,1,1,1709251259999,1,1,1,1,0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := history.NewParser(history.LayoutBinanceKlines1m, "BTC-USDT")
		var c market.Candle
		var last uint64
		for _, line := range bytes.Split(data, []byte("\n")) {
			ok, err := p.ParseKline(line, &c)
			if err != nil {
				if !errors.Is(err, market.ErrInvalid) {
					t.Fatalf("ParseKline(%q) error %v: not ErrInvalid", line, err)
				}
				return
			}
			if !ok {
				continue
			}
			if c.Interval != market.Interval1m || c.Count <= 0 || c.Start%60_000 != 0 || c.LastTS < c.Start || c.LastTS >= c.Start+60_000 ||
				c.Low > c.Open || c.Low > c.Close || c.High < c.Open || c.High < c.Close || c.Volume < 0 {
				t.Fatalf("ParseKline(%q) = %+v: not a 1m candle", line, c)
			}
			if c.FirstSeq>>62 != 1 || history.Layout(c.FirstSeq>>56&0x3f) != history.LayoutBinanceKlines1m || c.FirstSeq <= last {
				t.Fatalf("ParseKline(%q) seq %x: not an increasing key of the klines layout", line, c.FirstSeq)
			}
			last = c.FirstSeq
		}
	})
}
