package history_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/findash/findash/internal/history"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/testenv"
)

var (
	_ history.Store = (*sqlite.DB)(nil)
	_ history.Store = (*postgres.DB)(nil)
)

// forEachStore runs test on each store the importer must work with: SQLite
// always, PostgreSQL when FINDASH_TEST_POSTGRES_URL is set (a database of
// its own per openDB call).
func forEachStore(t *testing.T, test func(t *testing.T, openDB func(*testing.T) history.Store)) {
	t.Run("sqlite", func(t *testing.T) { test(t, func(t *testing.T) history.Store { return openDB(t) }) })
	t.Run("postgres", func(t *testing.T) {
		testenv.PostgresURL(t) // skips (or fails under FINDASH_TEST_REQUIRE) before anything runs
		test(t, openPostgres)
	})
}

func openPostgres(t *testing.T) history.Store {
	t.Helper()
	db, err := postgres.Open(t.Context(), postgres.Config{PrimaryURL: testenv.Postgres(t).URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "findash.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// trade is one generated trade.
type trade struct {
	id          uint64
	ts          int64 // ms
	price, size float64
}

// day0 is 2024-03-01 (a millisecond-era file); day1 2025-03-01 (µs era).
const (
	day0 int64 = 1709251200000
	day1 int64 = 1740787200000
)

func genTrades(n int, firstID uint64, start int64) []trade {
	out := make([]trade, n)
	for i := range out {
		out[i] = trade{id: firstID + uint64(i), ts: start + int64(i)*7_000 + int64(i%3), price: 60000 + float64(i%97) - float64(i%13)*0.5, size: 0.001 * float64(1+i%11)}
	}
	return out
}

// format writes trades in a layout: "agg", "trades" or "csv" (with ids when
// ids), with a header or not, timestamps in µs or ms.
func format(layout string, trades []trade, header, micros, ids bool) []byte {
	var b bytes.Buffer
	ts := func(ms int64) int64 {
		if micros {
			return ms*1000 + 123 // sub-ms digits are dropped
		}
		return ms
	}
	switch layout {
	case "agg":
		if header {
			b.WriteString("agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match\n")
		}
		for _, t := range trades {
			fmt.Fprintf(&b, "%d,%.8f,%.8f,%d,%d,%d,True,True\n", t.id, t.price, t.size, t.id*2, t.id*2+1, ts(t.ts))
		}
	case "trades":
		if header {
			b.WriteString("id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n")
		}
		for _, t := range trades {
			fmt.Fprintf(&b, "%d,%.8f,%.8f,%.8f,%d,False,True\r\n", t.id, t.price, t.size, t.price*t.size, ts(t.ts))
		}
	case "csv":
		if ids {
			b.WriteString("id,symbol,ts,price,size\n")
		} else {
			b.WriteString("symbol,ts,price,size\n")
		}
		for i, t := range trades {
			sym := []string{"BTC-USD", "ETH-USD"}[i%2]
			if ids {
				fmt.Fprintf(&b, "%d,", t.id)
			}
			fmt.Fprintf(&b, "%s,%d,%g,%g\n", sym, ts(t.ts), t.price, t.size)
		}
	}
	return b.Bytes()
}

func writeFile(t testing.TB, dir, name string, data []byte, zipped bool) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if zipped {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, err := zw.Create(strings.TrimSuffix(name, ".zip") + ".csv")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		path += ".zip"
		data = b.Bytes()
	} else {
		path += ".csv"
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantCandles rolls trades of sym up as findash would.
func wantCandles(sym string, trades []trade, iv market.Interval) []market.Candle {
	r := market.NewRollup()
	for i, t := range trades {
		r.Add(&market.Tick{Symbol: sym, TS: t.ts, Price: t.price, Size: t.size, Seq: uint64(i + 1)})
	}
	var out []market.Candle
	for _, c := range r.Candles() {
		if c.Interval == iv {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// approx: volumes are sums, whose last digits depend on the order of
// addition (batches merge partial sums).
var approx = cmpopts.EquateApprox(1e-12, 0)

// ohlcv drops what differs by construction (the seqs).
func ohlcv(cs []market.Candle) []market.Candle {
	out := make([]market.Candle, len(cs))
	for i, c := range cs {
		c.FirstSeq, c.LastSeq = 0, 0
		out[i] = c
	}
	return out
}

func candlesOf(t *testing.T, db history.Store, sym string, iv market.Interval, from, to int64) []market.Candle {
	t.Helper()
	cs, err := db.Candles(t.Context(), market.CandleQuery{Symbol: sym, Interval: iv, From: from, To: to, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestImportLayouts: a file in each documented layout (zip and plain,
// header and not, ms and µs) imports, its candles equal the trades rolled
// up, and importing it again writes nothing and changes no candle.
func TestImportLayouts(t *testing.T) { forEachStore(t, testImportLayouts) }

func testImportLayouts(t *testing.T, openDB func(*testing.T) history.Store) {
	dir := t.TempDir()
	tests := []struct {
		name, layout  string
		header, micro bool
		zipped, ids   bool
		start         int64
	}{
		{"BTCUSDT-aggTrades-2024-03-01", "agg", false, false, true, false, day0},
		{"BTCUSDT-aggTrades-2025-03-01", "agg", true, true, true, false, day1},
		{"ETHUSDT-trades-2024-03-01", "trades", true, false, false, false, day0},
		{"ETHUSDT-trades-2025-03-01", "trades", false, true, true, false, day1},
		{"generic-ids", "csv", true, false, false, true, day0},
		{"generic-noids", "csv", true, true, true, false, day1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			trades := genTrades(3000, 5_000_000_000, tc.start)
			path := writeFile(t, dir, tc.name, format(tc.layout, trades, tc.header, tc.micro, tc.ids), tc.zipped)
			im := history.New(db, history.Config{Batch: 700}, nil)
			layout, sym := history.LayoutCSV, ""
			if tc.layout != "csv" {
				var err error
				if layout, sym, err = history.BinanceFile(path, ""); err != nil {
					t.Fatal(err)
				}
			}
			res, err := im.ImportFile(t.Context(), path, layout, sym)
			if err != nil {
				t.Fatalf("ImportFile(%s) error: %v", path, err)
			}
			if res.Rows != 3000 || res.Written != 3000 || res.Micros != tc.micro {
				t.Errorf("ImportFile(%s) = %+v, want 3000 rows written, micros %v", path, res, tc.micro)
			}
			// The candles of each symbol equal its trades rolled up.
			bySym := map[string][]trade{}
			for i, tr := range trades {
				s := sym
				if tc.layout == "csv" {
					s = []string{"BTC-USD", "ETH-USD"}[i%2]
				}
				bySym[s] = append(bySym[s], tr)
			}
			check := func() {
				t.Helper()
				for s, trs := range bySym {
					for _, iv := range []market.Interval{market.Interval1m, market.Interval1h} {
						want := ohlcv(wantCandles(s, trs, iv))
						got := ohlcv(candlesOf(t, db, s, iv, tc.start-86_400_000, tc.start+86_400_000))
						if diff := cmp.Diff(want, got, approx); diff != "" {
							t.Fatalf("%s %s candles (-want +got):\n%s", s, iv, diff)
						}
					}
				}
			}
			check()
			again, err := im.ImportFile(t.Context(), path, layout, sym)
			if err != nil || again.Rows != 3000 || again.Written != 0 {
				t.Errorf("second ImportFile(%s) = %+v, %v; want 3000 rows, 0 written", path, again, err)
			}
			check()
		})
	}
}

// TestImportOverlapAfterRetention: a file overlapping one imported before
// writes only its new rows, even once retention deleted the old ticks.
func TestImportOverlapAfterRetention(t *testing.T) {
	db := openDB(t)
	dir := t.TempDir()
	all := genTrades(2000, 1, day0)
	first := writeFile(t, dir, "BTCUSDT-aggTrades-2024-03-01", format("agg", all[:1200], false, false, false), false)
	im := history.New(db, history.Config{Batch: 500}, nil)
	if _, err := im.ImportFile(t.Context(), first, history.LayoutBinanceAggTrades, "BTC-USDT"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteTicksBefore(t.Context(), day0+86_400_000); err != nil {
		t.Fatal(err)
	}
	second := writeFile(t, dir, "BTCUSDT-aggTrades-2024-03", format("agg", all, true, false, false), true)
	res, err := im.ImportFile(t.Context(), second, history.LayoutBinanceAggTrades, "BTC-USDT")
	if err != nil || res.Written != 800 {
		t.Fatalf("overlapping import = %+v, %v; want 800 written", res, err)
	}
	want := ohlcv(wantCandles("BTC-USDT", all, market.Interval1h))
	if diff := cmp.Diff(want, ohlcv(candlesOf(t, db, "BTC-USDT", market.Interval1h, day0, day0+86_400_000)), approx); diff != "" {
		t.Errorf("candles after overlapping imports (-want +got):\n%s", diff)
	}
}

func TestImportErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, body, want string
	}{
		{"BTCUSDT-aggTrades-x", "1,10,1,1,1,1709251200000,True,True\n2,10,1,2,2,1709251200000,True\n", "line 2"},
		{"BTCUSDT-aggTrades-y", "1,10,1,1,1,1709251200000,True,True\n1,10,1,1,1,1709251200000,True,True\n", "order"},
		{"BTCUSDT-aggTrades-z", "1,-10,1,1,1,1709251200000,True,True\n", "price"},
		{"BTCUSDT-aggTrades-w", "1,10,1,1,1,1709251200,True,True\n", "ts"}, // seconds
		{"BTCUSDT-trades-mixed", "1,10,1,10,1709251200000,True,True\n2,10,1,10,1740787200000000,True,True\n", "line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, tc.name, []byte(tc.body), false)
			layout, sym, err := history.BinanceFile(path, "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = history.New(openDB(t), history.Config{}, nil).ImportFile(t.Context(), path, layout, sym)
			if !errors.Is(err, market.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ImportFile(%q) error = %v, want ErrInvalid mentioning %q", tc.body, err, tc.want)
			}
		})
	}
	for _, name := range []string{"BTCUSDT-1h-2024-01-01.zip", "BTCUSDT-1s-2024-01-01.csv", "BTCUSDT-bookTicker-2024-01-01.zip"} {
		if _, _, err := history.BinanceFile(name, ""); !errors.Is(err, market.ErrInvalid) {
			t.Errorf("BinanceFile(%s) error = %v, want ErrInvalid", name, err)
		}
	}
	for in, want := range map[string]string{"BTCUSDT": "BTC-USDT", "ethbtc": "ETH-BTC", "BNBFDUSD": "BNB-FDUSD", "XYZ": "XYZ"} {
		if got := history.NormalizeBinance(in); got != want {
			t.Errorf("NormalizeBinance(%q) = %q, want %q", in, got, want)
		}
	}
}
