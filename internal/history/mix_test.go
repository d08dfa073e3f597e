package history_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/history"
	"github.com/findash/findash/internal/market"
)

// TestImportRefusesKlinesAndTradesOfOneMinute: klines and the trades of
// the same market and period, imported in either order, are refused at the
// second import with market.ErrConflict naming decision 0024, and the
// stored candles stay those of the first (the volume counted once); the
// same kinds for another day import.
func TestImportRefusesKlinesAndTradesOfOneMinute(t *testing.T) {
	forEachStore(t, testImportRefusesKlinesAndTradesOfOneMinute)
}

func testImportRefusesKlinesAndTradesOfOneMinute(t *testing.T, openDB func(*testing.T) history.Store) {
	dir := t.TempDir()
	const sym = "BTC-USDT"
	trades := genTrades(3000, 1, day0)
	minutes := wantCandles(sym, trades, market.Interval1m)
	aggPath := writeFile(t, dir, "BTCUSDT-aggTrades-2024-03-01", format("agg", trades, true, false, false), true)
	klinePath := writeFile(t, dir, "BTCUSDT-1m-2024-03-01", formatKlines(minutes, true, false), false)
	// The same kinds for 2024-03-02: the minutes of neither overlap day0's.
	trades2 := genTrades(500, 10_000, day0+86_400_000)
	aggPath2 := writeFile(t, dir, "BTCUSDT-aggTrades-2024-03-02", format("agg", trades2, false, false, false), false)
	klinePath2 := writeFile(t, dir, "BTCUSDT-1m-2024-03-02", formatKlines(wantCandles(sym, trades2, market.Interval1m), false, false), false)

	type file struct {
		path   string
		layout history.Layout
	}
	agg, klines := file{aggPath, history.LayoutBinanceAggTrades}, file{klinePath, history.LayoutBinanceKlines1m}
	agg2, klines2 := file{aggPath2, history.LayoutBinanceAggTrades}, file{klinePath2, history.LayoutBinanceKlines1m}
	for _, tc := range []struct {
		name          string
		first, second file
		other         file // another day of the second's kind: imports
	}{
		{"trades then klines", agg, klines, klines2},
		{"klines then trades", klines, agg, agg2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			im := history.New(db, history.Config{Batch: 500}, nil)
			if _, err := im.ImportFile(t.Context(), tc.first.path, tc.first.layout, sym); err != nil {
				t.Fatalf("first import: %v", err)
			}
			before := candlesOf(t, db, sym, market.Interval1m, day0, day0+86_400_000)
			res, err := im.ImportFile(t.Context(), tc.second.path, tc.second.layout, sym)
			if !errors.Is(err, market.ErrConflict) || !strings.Contains(err.Error(), "0024") {
				t.Fatalf("second import = %+v, %v; want ErrConflict naming decision 0024", res, err)
			}
			if res.Written != 0 {
				t.Errorf("second import wrote %d rows, want 0", res.Written)
			}
			if diff := cmp.Diff(before, candlesOf(t, db, sym, market.Interval1m, day0, day0+86_400_000)); diff != "" {
				t.Errorf("the refused import changed the candles (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(ohlcvCount(minutes), ohlcvCount(before), approx); diff != "" {
				t.Errorf("candles after the first import differ from the trades' (-want +got):\n%s", diff)
			}
			if res, err := im.ImportFile(t.Context(), tc.other.path, tc.other.layout, sym); err != nil || res.Written == 0 {
				t.Errorf("import of another day = %+v, %v; want written", res, err)
			}
		})
	}
}
