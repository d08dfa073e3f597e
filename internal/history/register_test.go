package history_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/findash/findash/internal/history"
	"github.com/findash/findash/internal/market"
)

// TestImportRegistersBeforeWriting: Config.Register hears each new symbol
// once, before its ticks are written; a refusal stops the import with
// nothing of the refused batch written, and the error says so.
func TestImportRegistersBeforeWriting(t *testing.T) {
	db := openDB(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ticks.csv")
	// Batch 2: AAA's two rows are one batch, then BBB and AAA again.
	os.WriteFile(path, []byte("symbol,ts,price,size\nAAA,1709251200000,1,1\nAAA,1709251201000,2,1\nBBB,1709251202000,3,1\nAAA,1709251203000,4,1\n"), 0o644)
	var calls [][]string
	refuse := errors.New("registry full")
	im := history.New(db, history.Config{Batch: 2, Register: func(ctx context.Context, syms []string) error {
		calls = append(calls, append([]string(nil), syms...))
		if n, _ := db.Candles(ctx, market.CandleQuery{Symbol: syms[0], Interval: market.Interval1m, From: market.MinTS, To: market.MaxTS, Limit: 1}); len(n) != 0 {
			t.Errorf("Register(%v) after %s's candles were written", syms, syms[0])
		}
		if strings.Join(syms, ",") == "BBB" {
			return refuse
		}
		return nil
	}}, nil)
	_, err := im.ImportFile(t.Context(), path, history.LayoutCSV, "")
	if !errors.Is(err, refuse) || !strings.Contains(err.Error(), "register 1 new symbols (BBB") {
		t.Fatalf("ImportFile = %v, want the registry's refusal of BBB", err)
	}
	if got := len(calls); got != 2 || calls[0][0] != "AAA" || calls[1][0] != "BBB" {
		t.Errorf("Register calls = %v, want [AAA] then [BBB]", calls)
	}
	for sym, want := range map[string]int{"AAA": 1, "BBB": 0} {
		cs, err := db.Candles(t.Context(), market.CandleQuery{Symbol: sym, Interval: market.Interval1h, From: market.MinTS, To: market.MaxTS, Limit: 10})
		if err != nil || len(cs) != want || (want == 1 && cs[0].Count != 2) {
			t.Errorf("Candles(%s) = %+v, %v; want %d candle(s) (AAA: its first batch only)", sym, cs, err, want)
		}
	}
}
