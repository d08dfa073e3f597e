package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/findash/findash/internal/market"
)

// WriteBatch prepares its small statements once and reuses them; the
// cache follows the writer's connection and bounds what it keeps.
func TestWriteBatchStatementCache(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "findash.db")
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var seq uint64
	write := func(n int) {
		t.Helper()
		ticks := make([]market.Tick, n)
		r := market.NewRollup()
		for i := range ticks {
			seq++
			ticks[i] = market.Tick{Symbol: "CCH-USD", TS: 1764201600000 + int64(seq)*1000, Price: 100 + float64(seq), Size: 1, Seq: seq}
			r.Add(&ticks[i])
		}
		from := seq - uint64(n) + 1
		if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, r.Candles(), from-1, from, seq); err != nil {
			t.Fatal(err)
		}
	}
	cached := func() int {
		db.stmts.mu.Lock()
		defer db.stmts.mu.Unlock()
		return len(db.stmts.stmts)
	}
	write(1)
	first := cached()
	if first == 0 {
		t.Fatal("a one-tick batch cached no statement")
	}
	for range 20 {
		write(1)
	}
	if n := cached(); n != first {
		t.Fatalf("20 more one-tick batches: %d statements cached, want the first batch's %d", n, first)
	}
	write(2) // another row count: its inserts join
	if n := cached(); n <= first {
		t.Fatalf("a two-tick batch: %d statements cached, want more than %d", n, first)
	}
	write(400) // its 400-row insert is too long to keep
	for q := range db.stmts.stmts {
		if len(q) > maxCachedSQL {
			t.Fatalf("a %d-byte statement was cached", len(q))
		}
	}
	got, err := db.Ticks(ctx, "CCH-USD", 0, 1<<62, 1000)
	if err != nil || len(got) != int(seq) {
		t.Fatalf("stored %d ticks of %d: %v", len(got), seq, err)
	}
	for i, tk := range got {
		if tk.Seq != uint64(i+1) || tk.Price != 100+float64(i+1) {
			t.Fatalf("tick %d: %+v", i, tk)
		}
	}

	// Statements of another connection replace the cache, and WriteBatch
	// starts over on its own connection (never using the other's).
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	oc, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = oc.Raw(func(dc any) error {
		_, ok, err := db.stmts.stmt(ctx, dc.(rawConn), "SELECT 1")
		if !ok || err != nil {
			t.Fatalf("cache another connection's statement: ok %v, %v", ok, err)
		}
		return nil
	})
	oc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n := cached(); n != 1 {
		t.Fatalf("after another connection: %d statements cached, want its 1", n)
	}
	write(1)
	if n := cached(); n != first {
		t.Fatalf("back on the writer's connection: %d statements cached, want %d", n, first)
	}
	if _, ok := db.stmts.stmts["SELECT 1"]; ok {
		t.Fatal("the other connection's statement is still cached")
	}
}
