package archive

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/findash/findash/internal/market"
)

// benchDay makes n trades of one symbol over one UTC day as a busy venue
// publishes them: exponential gaps (several trades in some milliseconds),
// a random walk of prices in cents around 43,000, sizes in 1e-5 steps with
// an exponential spread, consecutive seqs (a venue's trade ids).
func benchDay(n int) []market.Tick {
	rng := rand.New(rand.NewPCG(1, 2))
	day := int64(1793577600000)
	mean := float64(dayMs) / float64(n)
	out := make([]market.Tick, n)
	ts, price := float64(day), 43000.0
	for i := range out {
		ts += rng.ExpFloat64() * mean
		price = math.Round((price+rng.NormFloat64()*2)*100) / 100
		size := math.Max(1e-5, math.Round(rng.ExpFloat64()*0.02*1e5)/1e5)
		out[i] = market.Tick{Symbol: "BTC-USD", TS: min(int64(ts), day+dayMs-1), Price: price, Size: size, Seq: 1<<16 + uint64(i)}
	}
	return out
}

// BenchmarkEncodeDay encodes a day of 1M trades of one symbol (the
// archive's unit) and reports the file's bytes per tick.
func BenchmarkEncodeDay(b *testing.B) {
	ticks := benchDay(1_000_000)
	var size int
	for b.Loop() {
		data, err := encodeFile(ticks, "BTC-USD", "2026-11-02", DefaultRowGroupRows)
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(size)/float64(len(ticks)), "bytes/tick")
	b.ReportMetric(float64(size), "bytes/file")
	b.ReportMetric(float64(len(ticks))*float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
}

// BenchmarkDecodeDay reads the day back (what a merge or a read does).
func BenchmarkDecodeDay(b *testing.B) {
	ticks := benchDay(1_000_000)
	data, err := encodeFile(ticks, "BTC-USD", "2026-11-02", DefaultRowGroupRows)
	if err != nil {
		b.Fatal(err)
	}
	var out []market.Tick
	for b.Loop() {
		if out, err = decodeFile(out[:0], data, "BTC-USD"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ticks))*float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
}
