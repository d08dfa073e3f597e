package market

import (
	"math/rand/v2"
	"testing"
)

// brute24h computes a quote from the ticks whose minute lies within the 1,440
// minutes ending with the newest tick's minute.
func brute24h(ticks []Tick) Quote {
	var newest Tick
	for i, t := range ticks {
		if i == 0 || newest.Before(&t) {
			newest = t
		}
	}
	lo := Interval1m.Start(newest.TS) - Window24h + minuteMs
	var first Tick
	q := Quote{Symbol: newest.Symbol, Price: newest.Price, TS: newest.TS, Seq: newest.Seq}
	n := 0
	for _, t := range ticks {
		if Interval1m.Start(t.TS) < lo {
			continue
		}
		if n == 0 || t.Before(&first) {
			first = t
		}
		if n == 0 || t.Price > q.High24h {
			q.High24h = t.Price
		}
		if n == 0 || t.Price < q.Low24h {
			q.Low24h = t.Price
		}
		q.Volume24h += t.Size
		n++
	}
	q.Open24h = first.Price
	q.Change24h = q.Price - q.Open24h
	q.ChangePct24h = q.Change24h / q.Open24h * 100
	return q
}

func TestStateQuoteMatchesBruteForce(t *testing.T) {
	for seed := range uint64(10) {
		r := rand.New(rand.NewPCG(seed, 3))
		var ticks []Tick
		ts := int64(1_764_201_600_000)
		for i := range 3_000 {
			if r.IntN(8) == 0 {
				ts -= r.Int64N(3_600_000) // late, up to an hour
			} else {
				ts += r.Int64N(90_000) // ~75 min per 100 ticks: the window slides
			}
			ticks = append(ticks, Tick{Symbol: "ETH-USD", TS: ts, Price: float64(100 + r.IntN(50)), Size: float64(r.IntN(3)), Seq: uint64(i + 1)})
		}
		s := NewState()
		var u Update
		for lo := 0; lo < len(ticks); lo += 7 {
			u.Reset()
			s.Apply(ticks[lo:min(lo+7, len(ticks))], &u)
		}
		got, ok := s.Quote("ETH-USD")
		if !ok {
			t.Fatal("Quote(ETH-USD) missing")
		}
		want := brute24h(ticks)
		// Ticks older than the window when they arrived are dropped, as the
		// brute force does; float sums may differ in the last bits.
		if got.Price != want.Price || got.Open24h != want.Open24h || got.High24h != want.High24h ||
			got.Low24h != want.Low24h || got.Seq != want.Seq || abs(got.Volume24h-want.Volume24h) > 1e-6 {
			t.Fatalf("seed %d: Quote = %+v, want %+v", seed, got, want)
		}
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestStateApplyReportsChanges(t *testing.T) {
	s := NewState()
	var u Update
	s.Apply([]Tick{
		{Symbol: "A", TS: 1_764_201_600_000, Price: 10, Size: 1, Seq: 1 << 16},
		{Symbol: "A", TS: 1_764_201_600_500, Price: 11, Size: 1, Seq: 1<<16 | 1},
	}, &u)
	if len(u.Quotes) != 1 || u.Quotes[0].Price != 11 || u.Quotes[0].Volume24h != 2 {
		t.Fatalf("Update.Quotes = %+v, want one quote at 11 with volume 2", u.Quotes)
	}
	if len(u.Candles) != NumIntervals {
		t.Fatalf("len(Update.Candles) = %d, want %d", len(u.Candles), NumIntervals)
	}
	// A late tick for an older 1s bucket changes the 24h stats but not the open 1s candle.
	u.Reset()
	s.Apply([]Tick{{Symbol: "A", TS: 1_764_201_599_000, Price: 9, Size: 1, Seq: 2 << 16}}, &u)
	c, _ := s.OpenCandle("A", Interval1s)
	if c.Start != 1_764_201_600_000 || c.Low != 10 {
		t.Fatalf("OpenCandle(A, 1s) = %+v, want the 1s bucket at ...600000 untouched", c)
	}
	q, _ := s.Quote("A")
	if q.Low24h != 9 || q.Price != 11 {
		t.Fatalf("Quote(A) = %+v, want low 9 and price still 11", q)
	}
}

func TestMovers(t *testing.T) {
	s := NewState()
	var u Update
	ts := int64(1_764_201_600_000)
	for i, p := range []struct {
		sym        string
		open, last float64
	}{{"UP1", 100, 110}, {"UP2", 100, 105}, {"FLAT", 100, 100}, {"DN1", 100, 90}, {"DN2", 100, 99}} {
		s.Apply([]Tick{
			{Symbol: p.sym, TS: ts, Price: p.open, Seq: uint64(i+1) << 16},
			{Symbol: p.sym, TS: ts + 1, Price: p.last, Seq: uint64(i+1)<<16 | 1},
		}, &u)
	}
	g, l := s.Movers(10)
	if len(g) != 2 || g[0].Symbol != "UP1" || g[1].Symbol != "UP2" {
		t.Errorf("gainers = %v, want UP1, UP2", g)
	}
	if len(l) != 2 || l[0].Symbol != "DN1" || l[1].Symbol != "DN2" {
		t.Errorf("losers = %v, want DN1, DN2", l)
	}
}

func BenchmarkStateApply(b *testing.B) {
	s := NewState()
	var u Update
	batch := make([]Tick, 100)
	ts := int64(1_764_201_600_000)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range batch {
			ts += 7
			n++
			batch[i] = Tick{Symbol: "BTC-USD", TS: ts, Price: 43000 + float64(n%100), Size: 0.1, Seq: uint64(n)}
		}
		u.Reset()
		s.Apply(batch, &u)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ticks/s")
}
