package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// Benchmarks of the persister's write path against a bare baseline:
//
//	go test ./internal/store/sqlite -run '^$' -bench 'WriteBatch|BareInsert' -benchtime 100x
//
// On a machine shared with other work, trust BenchmarkWriteBatchVsBare's
// ratio over comparing separate runs.
//
// Each iteration writes one batch of batchTicks ticks spread over 20
// symbols, 5 ms apart (50 s of market time, ~1,100 partial candles).

const (
	batchTicks = 10_000
	benchSyms  = 20
)

// fillBatch writes batch i's ticks into dst.
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

// cpuTime is the process's user+system CPU time. On a shared machine wall
// time swings with other load; CPU time per tick is the steadier comparison.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportTicks reports wall-clock ticks/s and ticks per CPU-second (CPU time
// measured from cpu0, including what was spent generating batches, which
// is the same for every benchmark).
func reportTicks(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)*batchTicks/b.Elapsed().Seconds(), "ticks/s")
	b.ReportMetric(float64(b.N)*batchTicks/(cpuTime(b)-cpu0).Seconds(), "ticks/cpu-s")
}

func BenchmarkWriteBatch(b *testing.B) { benchWriteBatch(b) }

// BenchmarkWriteStrategy compares rows per statement (ticks/candles): one
// prepared single-row statement per row against multi-row statements.
func BenchmarkWriteStrategy(b *testing.B) {
	for _, n := range [][2]int{{1, 1}, {200, 64}, {500, 200}} {
		b.Run(fmt.Sprintf("ticks=%d,candles=%d", n[0], n[1]), func(b *testing.B) {
			defer sqlite.SetRowsPerStatement(n[0], n[1])()
			benchWriteBatch(b)
		})
	}
}

func benchWriteBatch(b *testing.B) {
	db := mustOpen(b)
	ctx := context.Background()
	ticks := make([]market.Tick, batchTicks)
	r := market.NewRollup()
	var candles int
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fillBatch(ticks, i)
		r.Reset()
		for k := range ticks {
			r.Add(&ticks[k])
		}
		candles += len(r.Candles())
		b.StartTimer()
		if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, r.Candles(), 0, uint64(i+1), uint64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportTicks(b, cpu0)
	b.ReportMetric(float64(candles)/float64(b.N), "candles/batch")
}

// openBare opens a plain database/sql SQLite handle with the store's pragmas
// and a table equivalent to ticks (migration 00009).
func openBare(b *testing.B) *sql.DB {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bare.db")
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	_, err = db.Exec(`CREATE TABLE t (symbol TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, price REAL NOT NULL, size REAL NOT NULL,
		PRIMARY KEY (symbol, ts, seq)) WITHOUT ROWID`)
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkBareInsert is the baseline: the same rows into an equivalent
// indexed table, batchTicks rows per transaction, no candles, no position,
// written the two plain ways (multi-row INSERTs of 200 rows; one prepared
// single-row INSERT executed per row).
func BenchmarkBareInsert(b *testing.B) {
	b.Run("multirow", func(b *testing.B) {
		db := openBare(b)
		ticks := make([]market.Tick, batchTicks)
		const per = 200
		q := "INSERT INTO t (symbol, seq, ts, price, size) VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?),", per), ",")
		args := make([]any, 0, per*5)
		b.ResetTimer()
		cpu0 := cpuTime(b)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			fillBatch(ticks, i)
			b.StartTimer()
			tx, err := db.Begin()
			if err != nil {
				b.Fatal(err)
			}
			st, err := tx.Prepare(q)
			if err != nil {
				b.Fatal(err)
			}
			for off := 0; off < len(ticks); off += per { // batchTicks is a multiple of per
				args = args[:0]
				for _, t := range ticks[off : off+per] {
					args = append(args, t.Symbol, int64(t.Seq), t.TS, t.Price, t.Size)
				}
				if _, err := st.Exec(args...); err != nil {
					b.Fatal(err)
				}
			}
			st.Close()
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportTicks(b, cpu0)
	})
	b.Run("prepared", func(b *testing.B) {
		db := openBare(b)
		ticks := make([]market.Tick, batchTicks)
		b.ResetTimer()
		cpu0 := cpuTime(b)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			fillBatch(ticks, i)
			b.StartTimer()
			barePrepared(b, db, ticks)
		}
		b.StopTimer()
		reportTicks(b, cpu0)
	})
}

// barePrepared inserts ticks in one transaction with one prepared
// single-row INSERT: the fastest plain way measured.
func barePrepared(b *testing.B, db *sql.DB, ticks []market.Tick) {
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	st, err := tx.Prepare("INSERT INTO t (symbol, seq, ts, price, size) VALUES (?, ?, ?, ?, ?)")
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range ticks {
		if _, err := st.Exec(t.Symbol, int64(t.Seq), t.TS, t.Price, t.Size); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriteBatchVsBare alternates one WriteBatch batch and one bare
// prepared-insert batch of the same ticks per iteration and times each
// side apart, so both see the same load from whatever else shares the
// machine; the ratio is the number to watch (aim: >= 0.8).
func BenchmarkWriteBatchVsBare(b *testing.B) {
	db := mustOpen(b)
	bare := openBare(b)
	ctx := context.Background()
	ticks := make([]market.Tick, batchTicks)
	r := market.NewRollup()
	var tStore, tBare time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fillBatch(ticks, i)
		r.Reset()
		for k := range ticks {
			r.Add(&ticks[k])
		}
		b.StartTimer()
		t0 := time.Now()
		if i%2 == 0 { // alternate which goes first
			if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, r.Candles(), 0, uint64(i+1), uint64(i+1)); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			barePrepared(b, bare, ticks)
			tStore, tBare = tStore+t1.Sub(t0), tBare+time.Since(t1)
		} else {
			barePrepared(b, bare, ticks)
			t1 := time.Now()
			if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, r.Candles(), 0, uint64(i+1), uint64(i+1)); err != nil {
				b.Fatal(err)
			}
			tBare, tStore = tBare+t1.Sub(t0), tStore+time.Since(t1)
		}
	}
	b.StopTimer()
	store := float64(b.N) * batchTicks / tStore.Seconds()
	bareRate := float64(b.N) * batchTicks / tBare.Seconds()
	b.ReportMetric(store, "writebatch-ticks/s")
	b.ReportMetric(bareRate, "bare-ticks/s")
	b.ReportMetric(store/bareRate, "ratio")
}

// BenchmarkWriteBatchSize writes 2,000,000 ticks in all (b.N iterations
// share them, so CI's smoke at -benchtime 20x costs what 1x does) the way
// the persister does at 300K ticks/s of `findash bench ingest`: 100
// symbols, timestamps 1/300 ms apart, batches of n ticks (the persister's
// MaxBatch) with their candles. It reports CPU time per tick (the
// generation of the ticks included, the same for every n): on a shared
// machine the steadier measure. The database grows to the size where the
// page cache matters (writerCacheKiB).
//
//	go test ./internal/store/sqlite -run '^$' -bench WriteBatchSize -benchtime 1x
func BenchmarkWriteBatchSize(b *testing.B) {
	const total, syms = 2_000_000, 100
	names := make([]string, syms)
	for i := range names {
		names[i] = fmt.Sprintf("SYM%03d-USD", i)
	}
	for _, n := range []int{10_000, 50_000} {
		b.Run(fmt.Sprintf("ticks=%d", n), func(b *testing.B) {
			db := mustOpen(b)
			ctx := context.Background()
			ticks := make([]market.Tick, n)
			r := market.NewRollup()
			batches := max(1, total/n/b.N)
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for k := 0; k < b.N; k++ {
				for i := range batches {
					for j := range ticks {
						g := (k*batches+i)*n + j
						ticks[j] = market.Tick{Symbol: names[g%syms], TS: 1764201600000 + int64(g)/300,
							Price: 100 + float64(g%1000)/10, Size: 1, Seq: uint64(g/syms + 1)}
					}
					r.Reset()
					for j := range ticks {
						r.Add(&ticks[j])
					}
					seq := uint64(k*batches + i + 1)
					if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, r.Candles(), 0, seq, seq); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			written := float64(b.N * batches * n)
			b.ReportMetric(written/b.Elapsed().Seconds(), "ticks/s")
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/written, "cpu-µs/tick")
		})
	}
}

// BenchmarkWriteBatchLowRate is the persister at a low rate: 200 ticks a
// second over 100 symbols (the fan-out scenario's 200 one-tick POSTs/s),
// written in batches of one flush interval's ticks. One iteration is one
// second of market time; "cpu-ms/s" is the share of a core the persister's
// writes take at that rate (the ticks' generation and rollup included, the
// same for every interval).
//
//	go test ./internal/store/sqlite -run '^$' -bench WriteBatchLowRate -benchtime 200x
func BenchmarkWriteBatchLowRate(b *testing.B) {
	const perSec, syms = 200, 100
	names := make([]string, syms)
	for i := range names {
		names[i] = fmt.Sprintf("SYM%03d-USD", i)
	}
	for _, every := range []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second} {
		b.Run("flush="+every.String(), func(b *testing.B) {
			db := mustOpen(b)
			ctx := context.Background()
			n := int(perSec * every / time.Second)
			ticks := make([]market.Tick, n)
			seqs := make([]uint64, syms)
			r := market.NewRollup()
			var logSeq uint64
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for k := 0; k < b.N; k++ {
				for i := 0; i < perSec/n; i++ {
					for j := range ticks {
						g := (k*perSec/n+i)*n + j
						s := (g * 37) % syms // every symbol, in no order
						seqs[s]++
						ticks[j] = market.Tick{Symbol: names[s], TS: 1764201600000 + int64(g)*1000/perSec,
							Price: 100 + float64(g%1000)/10, Size: 1, Seq: seqs[s]}
					}
					r.Reset()
					for j := range ticks {
						r.Add(&ticks[j])
					}
					from := logSeq + 1
					logSeq += uint64(n)
					if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, r.Candles(), from-1, from, logSeq); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/s")
		})
	}
}
