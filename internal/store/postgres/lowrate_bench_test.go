package postgres_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/findash/findash/internal/market"
)

// BenchmarkWriteBatchLowRate is sqlite's BenchmarkWriteBatchLowRate on
// PostgreSQL: 200 ticks a second over 100 symbols (the fan-out scenario's
// 200 one-tick POSTs/s, round-robin over the symbols as findash bench ws
// sends them), written in batches of one flush interval's ticks, so the
// persister's linger (decision 0071) is measured on both stores. One
// iteration is one second of market time. "cpu-ms/s" is this process's
// CPU (the client side of WriteBatch, the ticks' generation included),
// "pg-cpu-ms/s" the CPU of every local process named postgres over the
// same iterations (0 when the server is not on this machine).
//
//	FINDASH_TEST_POSTGRES_URL=… go test ./internal/store/postgres -run '^$' -bench WriteBatchLowRate -benchtime 100x
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
			cpu0, pg0 := selfCPU(b), postgresCPU()
			b.ResetTimer()
			for k := 0; k < b.N; k++ {
				for i := 0; i < perSec/n; i++ {
					for j := range ticks {
						g := (k*perSec/n+i)*n + j
						s := g % syms
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
			b.ReportMetric(float64((selfCPU(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/s")
			b.ReportMetric(float64((postgresCPU()-pg0).Microseconds())/1000/float64(b.N), "pg-cpu-ms/s")
		})
	}
}

// selfCPU is this process's user+system CPU time.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// postgresCPU sums the user+system CPU time of the local processes named
// postgres (/proc, clock ticks of 100 Hz); 0 without /proc.
func postgresCPU() time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "postgres" {
			continue
		}
		f := strings.Fields(s[end+1:]) // f[0] is the state, field 3 of stat
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
		k, _ := strconv.ParseInt(f[12], 10, 64) // stime, field 15
		ticks += u + k
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
