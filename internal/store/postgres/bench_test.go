package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/testenv"
)

// BenchmarkWriteBatch measures the persister's write path against a bare
// COPY of the same rows, in the same run:
//
//	FINDASH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./internal/store/postgres -run '^$' -bench WriteBatch -benchtime 100x
//
// Each iteration makes one batch of batchTicks ticks over 20 symbols, 5 ms
// apart (50 s of market time, ~1,100 partial candles), and writes it twice,
// alternating which goes first so both see the same load from whatever
// else shares the machine: once through WriteBatch (position row locked,
// COPY into the day partition, candle upsert, position update, one
// transaction), once with a bare pgx CopyFrom into a plain table with the
// same columns and the same unique (symbol, ts, seq) index, in its own
// transaction. Reported: ticks/s of each and their ratio (aim >= 0.8).
const (
	batchTicks = 10_000
	benchSyms  = 20
)

func fillBatch(dst []market.Tick, i int) {
	for j := range dst {
		g := i*len(dst) + j
		dst[j] = market.Tick{
			Symbol: fmt.Sprintf("SYM%02d-USD", g%benchSyms),
			TS:     1764201600000 + int64(g)*5,
			Price:  100 + float64(g%1000)/10,
			Size:   float64(g%7) + 0.5,
			Seq:    uint64(g/benchSyms + 1),
		}
	}
}

func BenchmarkWriteBatch(b *testing.B) {
	b.Run("full", func(b *testing.B) { benchWriteBatch(b, true) })
	// Without candles: what the tick path alone costs against the bare COPY.
	b.Run("ticks-only", func(b *testing.B) { benchWriteBatch(b, false) })
}

func benchWriteBatch(b *testing.B, withCandles bool) {
	db := mustOpen(b)
	dsn := testenv.Postgres(b).URL
	ctx := context.Background()
	bare, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close(ctx)
	_, err = bare.Exec(ctx, `CREATE TABLE t (symbol text COLLATE "C" NOT NULL, seq bigint NOT NULL, ts bigint NOT NULL,
		price double precision NOT NULL, size double precision NOT NULL);
		CREATE UNIQUE INDEX t_symbol_ts_seq ON t (symbol, ts, seq)`)
	if err != nil {
		b.Fatal(err)
	}
	copyBare := func(ticks []market.Tick) {
		tx, err := bare.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"t"}, []string{"symbol", "seq", "ts", "price", "size"},
			pgx.CopyFromSlice(len(ticks), func(i int) ([]any, error) {
				t := &ticks[i]
				return []any{t.Symbol, int64(t.Seq), t.TS, t.Price, t.Size}, nil
			}))
		if err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	ticks := make([]market.Tick, batchTicks)
	r := market.NewRollup()
	var tStore, tBare time.Duration
	var candles int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fillBatch(ticks, i)
		r.Reset()
		for k := range ticks {
			r.Add(&ticks[k])
		}
		candles += len(r.Candles())
		b.StartTimer()
		store := func() {
			t0 := time.Now()
			cs := r.Candles()
			if !withCandles {
				cs = nil
			}
			if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, cs, 0, uint64(i+1), uint64(i+1)); err != nil {
				b.Fatal(err)
			}
			tStore += time.Since(t0)
		}
		baseline := func() {
			t0 := time.Now()
			copyBare(ticks)
			tBare += time.Since(t0)
		}
		if i%2 == 0 {
			store()
			baseline()
		} else {
			baseline()
			store()
		}
	}
	b.StopTimer()
	storeRate := float64(b.N) * batchTicks / tStore.Seconds()
	bareRate := float64(b.N) * batchTicks / tBare.Seconds()
	b.ReportMetric(storeRate, "writebatch-ticks/s")
	b.ReportMetric(bareRate, "barecopy-ticks/s")
	b.ReportMetric(storeRate/bareRate, "ratio")
	b.ReportMetric(float64(candles)/float64(b.N), "candles/batch")
}
