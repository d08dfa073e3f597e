package market

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// bruteCandles recomputes every candle from scratch: for each bucket, the
// ticks sorted by (TS, Seq) give open and close directly.
func bruteCandles(ticks []Tick) map[CandleKey]Candle {
	out := make(map[CandleKey]Candle)
	groups := make(map[CandleKey][]Tick)
	for _, t := range ticks {
		for _, iv := range Intervals {
			k := CandleKey{t.Symbol, iv, iv.Start(t.TS)}
			groups[k] = append(groups[k], t)
		}
	}
	for k, ts := range groups {
		first, last := ts[0], ts[0]
		c := Candle{Symbol: k.Symbol, Interval: k.Interval, Start: k.Start, High: ts[0].Price, Low: ts[0].Price}
		for _, t := range ts {
			if t.Before(&first) {
				first = t
			}
			if last.Before(&t) {
				last = t
			}
			c.High = max(c.High, t.Price)
			c.Low = min(c.Low, t.Price)
			c.Volume += t.Size
			c.Count++
		}
		c.Open, c.FirstTS, c.FirstSeq = first.Price, first.TS, first.Seq
		c.Close, c.LastTS, c.LastSeq = last.Price, last.TS, last.Seq
		out[k] = c
	}
	return out
}

// randomTicks makes a stream concentrated around bucket edges, with a share
// of late ticks (event time before ticks already seen) and equal timestamps.
func randomTicks(r *rand.Rand, n int) []Tick {
	const day = 86_400_000
	base := int64(1_764_201_600_000) // a UTC midnight
	syms := []string{"BTC-USD", "EUR/USD", "BRK.B"}
	ticks := make([]Tick, n)
	ts := base - 2_000
	for i := range ticks {
		switch r.IntN(10) {
		case 0: // late: jump back up to two minutes
			ts -= r.Int64N(120_000)
		case 1: // straddle a day / hour edge
			ts = base + int64(r.IntN(3)-1)*day + r.Int64N(4_000) - 2_000
		case 2: // same ms as the previous tick
		default:
			ts += r.Int64N(1_500)
		}
		ticks[i] = Tick{
			Symbol: syms[r.IntN(len(syms))], TS: ts,
			Price: float64(1 + r.IntN(1000)), Size: float64(r.IntN(5)),
			Seq: uint64(i + 1),
		}
	}
	return ticks
}

func TestCandleApplyMatchesBruteForce(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		ticks := randomTicks(r, 2_000)
		want := bruteCandles(ticks)

		got := make(map[CandleKey]Candle)
		roll := NewRollup()
		for i := range ticks {
			roll.Add(&ticks[i])
		}
		for _, c := range roll.Candles() {
			got[c.Key()] = c
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("seed %d: Rollup candles differ from brute force (-want +got):\n%s", seed, diff)
		}
	}
}

func TestCandleMergeAnyOrderMatchesBruteForce(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 2))
		ticks := randomTicks(r, 1_500)
		want := bruteCandles(ticks)

		// Split the stream into random chunks, roll each up separately, then
		// merge the partial candles in a shuffled order, as a persister
		// upserting batches (and a late batch) would.
		var partials []Candle
		for lo := 0; lo < len(ticks); {
			hi := min(len(ticks), lo+1+r.IntN(200))
			roll := NewRollup()
			for i := lo; i < hi; i++ {
				roll.Add(&ticks[i])
			}
			partials = append(partials, roll.Candles()...)
			lo = hi
		}
		r.Shuffle(len(partials), func(i, j int) { partials[i], partials[j] = partials[j], partials[i] })
		got := make(map[CandleKey]Candle)
		for i := range partials {
			c := got[partials[i].Key()]
			c.Merge(&partials[i])
			got[partials[i].Key()] = c
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("seed %d: merged candles differ from brute force (-want +got):\n%s", seed, diff)
		}
	}
}

func TestIntervalStartEdges(t *testing.T) {
	const midnight = int64(1_764_201_600_000)
	tests := []struct {
		iv   Interval
		ts   int64
		want int64
	}{
		{Interval1s, midnight + 999, midnight},
		{Interval1s, midnight + 1000, midnight + 1000},
		{Interval1m, midnight - 1, midnight - 60_000},
		{Interval5m, midnight + 299_999, midnight},
		{Interval15m, midnight + 900_000, midnight + 900_000},
		{Interval1h, midnight + 3_599_999, midnight},
		{Interval1d, midnight - 1, midnight - 86_400_000},
		{Interval1d, midnight, midnight},
		{Interval1m, -1, -60_000},
	}
	for _, tt := range tests {
		if got := tt.iv.Start(tt.ts); got != tt.want {
			t.Errorf("%s.Start(%d) = %d, want %d", tt.iv, tt.ts, got, tt.want)
		}
	}
}

func TestParseInterval(t *testing.T) {
	for _, iv := range Intervals {
		got, err := ParseInterval(iv.String())
		if err != nil || got != iv {
			t.Errorf("ParseInterval(%q) = %v, %v; want %v", iv.String(), got, err, iv)
		}
	}
	for _, bad := range []string{"", "2m", "1M", "1 m", "1d "} {
		if _, err := ParseInterval(bad); err == nil {
			t.Errorf("ParseInterval(%q) succeeded, want error", bad)
		}
	}
}
