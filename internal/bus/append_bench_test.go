package bus_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/findash/findash/internal/market"
)

// BenchmarkAppendParallel appends from many goroutines at once, as
// concurrent POSTs of ticks do, to the embedded log on disk: one op is one
// Append of ticks ticks of one of 100 symbols. With one tick per Append it
// measured the wait for the NATS connection's lock held over the
// synchronous in-process pipe (docs/benchmarks/ingest.md).
func BenchmarkAppendParallel(b *testing.B) {
	for _, ticks := range []int{1, 10} {
		b.Run(fmt.Sprintf("ticks=%d", ticks), func(b *testing.B) {
			bs := openBus(b, b.TempDir())
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				batch := make([]market.Tick, ticks)
				for pb.Next() {
					i := n.Add(1)
					sym := fmt.Sprintf("S%03d", i%100)
					for k := range batch {
						batch[k] = market.Tick{Symbol: sym, TS: i, Price: 1, Size: 1}
					}
					if err := bs.Append(ctx, batch); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*ticks)/b.Elapsed().Seconds(), "ticks/s")
		})
	}
}
