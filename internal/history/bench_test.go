package history_test

import (
	"bytes"
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/findash/findash/internal/history"
	"github.com/findash/findash/internal/market"
)

// discardStore takes every batch and keeps nothing: BenchmarkImportParse
// measures the import's read, unzip and parse apart from the store's
// writes (which the end-to-end runs in docs/benchmarks/import.md measure).
type discardStore struct{ rows int }

func (d *discardStore) ImportTicks(_ context.Context, _ string, ticks []market.Tick) (int, error) {
	d.rows += len(ticks)
	return len(ticks), nil
}

func (d *discardStore) ImportCandles(_ context.Context, _ string, cs []market.Candle) (int, error) {
	d.rows += len(cs)
	return len(cs), nil
}

func (d *discardStore) Candles(context.Context, market.CandleQuery) ([]market.Candle, error) {
	return nil, nil
}

// BenchmarkImportParse: the import path without the store — a file of
// 500,000 Binance aggTrades rows (2025 layout, µs) read, unzipped (zip) or
// not (csv), split into lines, parsed and batched by Importer.ImportFile.
// It reports rows/s (wall) and cpu-ns/row (the process's user + system
// CPU per row, which a loaded machine distorts less).
func BenchmarkImportParse(b *testing.B) {
	const rows = 500_000
	var data bytes.Buffer
	data.WriteString("agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match\n")
	for _, l := range benchLines(rows) {
		data.Write(l)
		data.WriteByte('\n')
	}
	dir := b.TempDir()
	for _, zipped := range []bool{false, true} {
		name := "csv"
		if zipped {
			name = "zip"
		}
		path := writeFile(b, dir, "BTCUSDT-aggTrades-2025-03-01", data.Bytes(), zipped)
		b.Run(name, func(b *testing.B) {
			st := &discardStore{}
			im := history.New(st, history.Config{}, nil)
			cpu0, start := cpuTime(), time.Now()
			for b.Loop() {
				if _, err := im.ImportFile(context.Background(), path, history.LayoutBinanceAggTrades, "BTC-USDT"); err != nil {
					b.Fatal(err)
				}
			}
			if st.rows != rows*b.N {
				b.Fatalf("imported %d rows, want %d", st.rows, rows*b.N)
			}
			wall, cpu := time.Since(start), cpuTime()-cpu0
			b.ReportMetric(float64(st.rows)/wall.Seconds(), "rows/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(st.rows), "cpu-ns/row")
		})
	}
}

// cpuTime returns the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
