package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/market"
)

// TestCandlesFromMemoryMatchStore: two real servers over the same State
// and SQLite store (caught up with every tick), one answering candle reads
// from the State's recent candles (Deps.Recent), one from the store. Every
// answer — ranges, default ranges, pages, cursors, newest — is the same
// bytes, and findash_api_candle_reads_total{source} counts each server's
// reads on its side (review of 80ec680, finding 6).
func TestCandlesFromMemoryMatchStore(t *testing.T) {
	catchUp := func(t *testing.T, f *fixture) {
		t.Helper()
		var rest []market.Tick
		for _, tk := range marketTicks() {
			if tk.TS >= t0+30*20_000 {
				rest = append(rest, tk)
			}
		}
		r := market.NewRollup()
		for i := range rest {
			r.Add(&rest[i])
		}
		if err := f.db.WriteBatch(context.Background(), market.Unpartitioned, rest, r.Candles(), 0, 2, 2); err != nil {
			t.Fatal(err)
		}
	}
	mem := newFixture(t, func(_ *api.Config, d *api.Deps) { d.Recent = d.Market.(*market.State) })
	store := newFixture(t)
	catchUp(t, mem)
	catchUp(t, store)

	var paths []string
	for _, sym := range []string{"AAPL", "BTC-USD", "EUR/USD", "NONE.X"} {
		for _, iv := range []string{"1s", "1m", "5m", "1h", "1d"} {
			paths = append(paths,
				fmt.Sprintf("/api/v1/candles/%s?interval=%s", sym, iv),
				fmt.Sprintf("/api/v1/candles/%s?interval=%s&limit=2", sym, iv),
				fmt.Sprintf("/api/v1/candles/%s?interval=%s&from=%d&to=%d", sym, iv, t0, t0+11*60_000),
				fmt.Sprintf("/api/v1/candles/%s?interval=%s&from=%d&to=%d&limit=3", sym, iv, t0+60_000, t0+8*60_000),
			)
		}
	}
	for i := 0; i < len(paths); i++ {
		p := paths[i]
		_, got := mem.do(t, "GET", p, nil)
		_, want := store.do(t, "GET", p, nil)
		if string(got) != string(want) {
			t.Errorf("GET %s\nmemory: %s\nstore:  %s", p, got, want)
			continue
		}
		// Follow the next page, once per path.
		if i := strings.Index(string(got), `"next_cursor":"`); i >= 0 && !strings.Contains(p, "cursor=") {
			cur := string(got)[i+len(`"next_cursor":"`):]
			cur = cur[:strings.IndexByte(cur, '"')]
			paths = append(paths, p+"&cursor="+cur)
		}
	}
	reads := func(f *fixture, source string) float64 {
		mfs, err := f.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "findash_api_candle_reads_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == source {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	t.Logf("%d paths; memory server: %v from memory, %v from the store", len(paths), reads(mem, "memory"), reads(mem, "store"))
	if n := reads(mem, "memory"); n < float64(len(paths))/2 {
		t.Errorf("memory server: %v reads from memory, want most of %d", n, len(paths))
	}
	if n := reads(store, "memory"); n != 0 {
		t.Errorf("store server: %v reads from memory, want 0", n)
	}
	if n := reads(store, "store"); n == 0 {
		t.Error("store server: no reads from the store")
	}
}
