package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/market"
)

// BenchmarkCandlesRefill serves the live candle requests of `findash bench
// api`'s mix (every interval, the latest 50, 100 and 500 buckets) with
// every request a refill (LiveTTL 1 ns), from the recent candles in memory,
// over the ticks the bench seeds: two hours of one-a-minute ticks. A live
// key lives 200 ms and is asked ~10 times a second under the mix, so about
// half its requests refill: this is their cost.
func BenchmarkCandlesRefill(b *testing.B) { benchCandles(b, time.Nanosecond) }

// BenchmarkCandlesHit is BenchmarkCandlesRefill with every request a
// cache hit: the route's own work around the cache.
func BenchmarkCandlesHit(b *testing.B) { benchCandles(b, time.Hour) }

func benchCandles(b *testing.B, ttl time.Duration) {
	end := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	st := market.NewState()
	var ticks []market.Tick
	for k := 120; k >= 0; k-- {
		ticks = append(ticks, market.Tick{
			Symbol: "B0000", TS: end.Add(-time.Duration(k) * time.Minute).UnixMilli(),
			Price: 100 + float64((k*7)%13)/10, Size: float64(1 + k%5), Seq: uint64(121 - k),
		})
	}
	var u market.Update
	st.Apply(ticks, &u)
	f := newFixture(b, func(c *api.Config, d *api.Deps) {
		c.LiveTTL = ttl
		c.ReadLimit = api.Limit{Rate: -1}
		d.Market, d.Recent = st, st
		d.Now = func() time.Time { return end.Add(time.Second) }
	})
	h := f.api.Handler()
	var reqs []*http.Request
	for _, iv := range []string{"1s", "1m", "5m", "15m", "1h", "1d"} {
		for _, n := range []int{50, 100, 500} {
			reqs = append(reqs, httptest.NewRequest("GET", fmt.Sprintf("/api/v1/candles/B0000?interval=%s&limit=%d", iv, n), nil))
		}
	}
	var bytes int64
	for _, req := range reqs {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s = %d %s", req.URL, w.Code, w.Body)
		}
		bytes += int64(w.Body.Len())
	}
	b.SetBytes(bytes / int64(len(reqs)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w := discardWriter{h: http.Header{}}
		h.ServeHTTP(&w, reqs[i%len(reqs)])
		i++
	}
}
