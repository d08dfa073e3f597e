package persist_test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/persist"
	"github.com/findash/findash/internal/store/sqlite"
)

// BenchmarkPersistBacklog persists a backlog of 1M ticks (200 appends of
// 5,000 ticks over 100 symbols, as `findash bench ingest` posts them: one
// log message per symbol per append) from the real log into a fresh real
// SQLite store each round: the persister's whole path, the consumer, the
// rollup and WriteBatch, at the rate it catches up. ticks/s is wall time,
// cpu-µs/tick the process's CPU (user+system) per tick.
func BenchmarkPersistBacklog(b *testing.B) {
	const appends, per, symbols = 200, 5000, 100
	bs, err := bus.Open(context.Background(), bus.Config{DataDir: b.TempDir()}, discard())
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close(context.Background())
	ts := time.Now().Add(-time.Hour).UnixMilli()
	for a := range appends {
		ticks := make([]market.Tick, per)
		for i := range ticks {
			ticks[i] = market.Tick{Symbol: fmt.Sprintf("B%03d-USD", i%symbols), TS: ts + int64(a*per+i)/100, Price: 100 + float64(i%13), Size: 1}
		}
		// A loaded machine stalls NATS's async publishes now and then.
		for try := 0; ; try++ {
			err := bs.Append(context.Background(), ticks)
			if err == nil {
				break
			}
			if try == 5 {
				b.Fatal(err)
			}
			time.Sleep(time.Second)
		}
	}
	last, err := bs.LastSeq(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var wall time.Duration
	var cpu float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		db := openBenchStore(b)
		st := wrap(db)
		ctx, cancel := context.WithCancel(context.Background())
		p := persist.New(bs, st, persist.Config{}, discard(), nil)
		done := make(chan error, 1)
		c0, t0 := cpuSeconds(), time.Now()
		b.StartTimer()
		go func() { done <- p.Run(ctx) }()
		awaitStored(b, db, st.written, last)
		b.StopTimer()
		wall += time.Since(t0)
		cpu += cpuSeconds() - c0
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
	n := float64(b.N) * appends * per
	b.ReportMetric(n/wall.Seconds(), "ticks/s")
	b.ReportMetric(cpu/n*1e6, "cpu-µs/tick")
}

// BenchmarkPersistLowRate persists live traffic: 400 one-tick messages a
// second over 100 symbols (as `findash bench ingest --batch 1 --rate 400`
// posts them), each stamped when appended, for 5 s a round, from the real
// log into a fresh real SQLite store with the default batching (Late
// 0.5 s, Linger 1 s) — issue 14's low-rate regime, where a transaction
// costs about the same whatever it holds. cpu-µs/tick is the process's
// CPU (the appends, the embedded NATS server, the consumer, the persister
// and SQLite) per tick, from the first append until the store holds the
// last; batches/s counts the transactions per second of traffic.
func BenchmarkPersistLowRate(b *testing.B) {
	const rate, dur, symbols = 400, 5 * time.Second, 100
	syms := make([]string, symbols)
	for i := range syms {
		syms[i] = fmt.Sprintf("L%03d-USD", i)
	}
	var cpu float64
	var ticks, batches int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		bs, err := bus.Open(context.Background(), bus.Config{DataDir: b.TempDir()}, discard())
		if err != nil {
			b.Fatal(err)
		}
		db := openBenchStore(b)
		st := wrap(db)
		ctx, cancel := context.WithCancel(context.Background())
		p := persist.New(bs, st, persist.Config{}, discard(), prometheus.NewRegistry())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		c0 := cpuSeconds()
		b.StartTimer()
		pace := time.NewTicker(time.Second / rate)
		n := 0
		for end := time.Now().Add(dur); time.Now().Before(end); n++ {
			<-pace.C
			tick := market.Tick{Symbol: syms[n%symbols], TS: time.Now().UnixMilli(), Price: 100 + float64(n%13), Size: 1}
			if err := bs.Append(context.Background(), []market.Tick{tick}); err != nil {
				b.Fatal(err)
			}
		}
		pace.Stop()
		last, err := bs.LastSeq(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		awaitStored(b, db, st.written, last)
		b.StopTimer()
		cpu += cpuSeconds() - c0
		ticks += n
		batches += int(st.writes.Load())
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		db.Close()
		bs.Close(context.Background())
	}
	b.ReportMetric(cpu/float64(ticks)*1e6, "cpu-µs/tick")
	b.ReportMetric(float64(batches)/(float64(b.N)*dur.Seconds()), "batches/s")
}

// openBenchStore opens a fresh, migrated SQLite store in a temporary
// directory; the caller closes it.
func openBenchStore(b *testing.B) *sqlite.DB {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "findash.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return db
}

// awaitStored waits until db's persisted position reaches last, looking
// again after each batch written is signalled.
func awaitStored(b *testing.B, db interface {
	LogPosition(context.Context, int) (uint64, error)
}, written <-chan struct{}, last uint64) {
	for {
		pos, err := db.LogPosition(context.Background(), market.Unpartitioned)
		if err != nil {
			b.Fatal(err)
		}
		if pos >= last {
			return
		}
		<-written
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
