package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// BenchmarkStorage measures the disk a tick costs once persisted, candles
// included — the "storage per 1M ticks" of docs/cost.md:
//
//	go test ./internal/store/sqlite -run '^$' -bench Storage -benchtime 100x
//
// Each iteration writes one batch of batchTicks ticks over 20 symbols, 5 ms
// apart, through WriteBatch with its candles (the persister's path); at the
// end the store is closed (the last connection checkpoints the WAL into the
// file) and the database file's growth over the empty migrated one is
// divided by the ticks written. 100x is 1M ticks.
func BenchmarkStorage(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "findash.db")
	db, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	empty := dbBytes(b, path)
	ticks := make([]market.Tick, batchTicks)
	r := market.NewRollup()
	var candles int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fillBatch(ticks, i)
		r.Reset()
		for k := range ticks {
			r.Add(&ticks[k])
		}
		candles += len(r.Candles())
		if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, r.Candles(), 0, uint64(i+1), uint64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	grew := float64(dbBytes(b, path) - empty)
	n := float64(b.N) * batchTicks
	b.ReportMetric(grew/n, "B/tick")
	b.ReportMetric(grew/n*1e6/(1<<20), "MiB/1M-ticks")
	b.ReportMetric(float64(candles)/n, "candle-writes/tick")
}

// dbBytes is the size of the database file and its WAL, if any.
func dbBytes(b *testing.B, path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}
