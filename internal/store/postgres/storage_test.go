package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/testenv"
)

// BenchmarkStorage measures the disk a tick costs once persisted, candles
// and indexes included — the "storage per 1M ticks" of docs/cost.md:
//
//	FINDASH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./internal/store/postgres -run '^$' -bench Storage -benchtime 100x
//
// Each iteration writes one batch of batchTicks ticks over 20 symbols, 5 ms
// apart, through WriteBatch with its candles (the persister's path) into a
// fresh database; the growth of pg_database_size over the empty migrated
// database is divided by the ticks written. 100x is 1M ticks. WAL and
// replicas come on top (the WAL is recycled; each replica holds a copy).
func BenchmarkStorage(b *testing.B) {
	ctx := context.Background()
	d := testenv.Postgres(b)
	db := open(b, postgres.Config{PrimaryURL: d.URL})
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, d.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	size := func() int64 {
		var n int64
		if err := conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	ticks := make([]market.Tick, batchTicks)
	r := market.NewRollup()
	var candles int
	empty := size()
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
	grew := float64(size() - empty)
	n := float64(b.N) * batchTicks
	b.ReportMetric(grew/n, "B/tick")
	b.ReportMetric(grew/n*1e6/(1<<20), "MiB/1M-ticks")
	b.ReportMetric(float64(candles)/n, "candle-writes/tick")
}
