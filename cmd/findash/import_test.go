package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/testenv"
)

// TestImportCommand: findash import csv and binance load files into the
// data dir's database, say how many rows were new, write nothing the second
// time, and the candles of the range are there at once.
func TestImportCommand(t *testing.T) {
	testImportCommand(t, nil, func(t *testing.T, data string) candleReader {
		db, err := sqlite.Open(t.Context(), filepath.Join(data, "findash.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// TestImportCommandPostgres is TestImportCommand with --database-url (when
// FINDASH_TEST_POSTGRES_URL is set).
func TestImportCommandPostgres(t *testing.T) {
	url := testenv.Postgres(t).URL
	testImportCommand(t, []string{"--database-url", url}, func(t *testing.T, _ string) candleReader {
		db, err := postgres.Open(t.Context(), postgres.Config{PrimaryURL: url}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// candleReader reads the imported candles back from either store.
type candleReader interface {
	Candles(ctx context.Context, q market.CandleQuery) ([]market.Candle, error)
}

func testImportCommand(t *testing.T, extra []string, open func(t *testing.T, data string) candleReader) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	csvPath := filepath.Join(dir, "ticks.csv")
	os.WriteFile(csvPath, []byte("symbol,ts,price,size\nBTC-USD,1709251200123,60000,0.5\nBTC-USD,1709251260000,60010,0.25\n"), 0o644)
	binPath := filepath.Join(dir, "ETHUSDT-trades-2025-03-01.csv")
	os.WriteFile(binPath, []byte("1,2000.5,1,2000.5,1740787200000123,True,True\n2,2001,2,4002,1740787230000000,False,True\n"), 0o644)
	klPath := filepath.Join(dir, "SOLUSDT-1m-2024-03-01.csv")
	os.WriteFile(klPath, []byte("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n"+
		"1709251200000,100,102,99,101,5,1709251259999,505,3,2,202,0\n1709251260000,101,103,100,102,4,1709251319999,408,4,2,204,0\n"), 0o644)
	hourPath := filepath.Join(dir, "SOLUSDT-1h-2024-03-01.csv")
	os.WriteFile(hourPath, []byte("1709251200000,100,102,99,101,5,1709254799999,505,3,2,202,0\n"), 0o644)
	common := append([]string{"--data-dir", data, "--log-format", "json"}, extra...)

	for i, want := range []string{"2 new, 0 already imported", "0 new, 2 already imported"} {
		out, stderr, err := findash(t, append([]string{"import", "csv", csvPath}, common...)...)
		if err != nil || !strings.Contains(out, want) || !strings.Contains(out, "timestamps in ms") {
			t.Fatalf("import csv (#%d) = %q, %v (%s), want %q", i+1, out, err, stderr, want)
		}
		out, stderr, err = findash(t, append([]string{"import", "binance", binPath}, common...)...)
		if err != nil || !strings.Contains(out, want) || !strings.Contains(out, "timestamps in µs") {
			t.Fatalf("import binance (#%d) = %q, %v (%s), want %q", i+1, out, err, stderr, want)
		}
		out, stderr, err = findash(t, append([]string{"import", "binance", klPath}, common...)...)
		if err != nil || !strings.Contains(out, want) || !strings.Contains(out, "timestamps in ms") {
			t.Fatalf("import binance klines (#%d) = %q, %v (%s), want %q", i+1, out, err, stderr, want)
		}
	}
	if _, stderr, err := findash(t, append([]string{"import", "binance", hourPath}, common...)...); err == nil || !strings.Contains(stderr+err.Error(), "only 1m klines") {
		t.Errorf("import binance of 1h klines: error %v (%s), want one saying only 1m klines are imported", err, stderr)
	}
	if _, _, err := findash(t, append([]string{"import", "binance", csvPath}, common...)...); err == nil {
		t.Error("import binance of a file not named like a Binance dump: no error")
	}

	db := open(t, data)
	for _, tc := range []struct {
		sym              string
		start            int64
		open, close, vol float64
	}{
		{"BTC-USD", 1709251200000, 60000, 60010, 0.75},
		{"ETH-USDT", 1740787200000, 2000.5, 2001, 3},
	} {
		cs, err := db.Candles(t.Context(), market.CandleQuery{Symbol: tc.sym, Interval: market.Interval1h, From: tc.start, To: tc.start, Limit: 10})
		if err != nil || len(cs) != 1 || cs[0].Open != tc.open || cs[0].Close != tc.close || cs[0].Volume != tc.vol || cs[0].Count != 2 {
			t.Errorf("Candles(%s 1h) = %+v, %v; want one candle %v→%v volume %v from 2 ticks", tc.sym, cs, err, tc.open, tc.close, tc.vol)
		}
	}
	// The two 1m klines make one 1h candle of 7 trades.
	cs, err := db.Candles(t.Context(), market.CandleQuery{Symbol: "SOL-USDT", Interval: market.Interval1h, From: 1709251200000, To: 1709251200000, Limit: 10})
	if err != nil || len(cs) != 1 || cs[0].Open != 100 || cs[0].High != 103 || cs[0].Low != 99 || cs[0].Close != 102 || cs[0].Volume != 9 || cs[0].Count != 7 {
		t.Errorf("Candles(SOL-USDT 1h) = %+v, %v; want one candle 100/103/99/102 volume 9 from 7 trades", cs, err)
	}
}
