package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/market"
)

// coveredFrom is memory whose rings hold the buckets from from on only:
// a range reaching before it is read from the store.
type coveredFrom struct {
	state *market.State
	from  int64 // ms
}

func (c coveredFrom) RecentCandles(q market.CandleQuery) ([]market.Candle, bool) {
	if q.From < c.from {
		return nil, false
	}
	return c.state.RecentCandles(q)
}

// TestStoreReadsShowLingeringCandles: a range read from the store (it
// reaches before what memory holds) shows the candles of buckets that
// closed within ClosedGrace from memory, not the store's — the persister
// may not have written their ticks yet (it lingers, decision 0071). The
// fixture's store lacks the ticks from t0+600 s on; the 1 s bucket of
// t0+600 s closed before now (t0+630 s) and the one of t0+620 s is open.
// GET /api/v1/candles and /udf/history answer as a server whose store has
// every tick does. Before, their answers lacked the closed bucket (only the
// open candle was put over the store's).
func TestStoreReadsShowLingeringCandles(t *testing.T) {
	grace := func(c *api.Config, _ *api.Deps) { c.ClosedGrace = 40 * time.Second }
	mixed := newFixture(t, grace, func(_ *api.Config, d *api.Deps) {
		d.Recent = coveredFrom{d.Market.(*market.State), t0 + 590_000}
	})
	caughtUp := newFixture(t, grace)
	var rest []market.Tick
	for _, tk := range marketTicks() {
		if tk.TS >= t0+600_000 {
			rest = append(rest, tk)
		}
	}
	r := market.NewRollup()
	for i := range rest {
		r.Add(&rest[i])
	}
	if err := caughtUp.db.WriteBatch(context.Background(), market.Unpartitioned, rest, r.Candles(), 1, 2, 2); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		fmt.Sprintf("/api/v1/candles/BTC-USD?interval=1s&from=%d&to=%d", t0, t0+629_000),
		fmt.Sprintf("/api/v1/candles/BTC-USD?interval=1s&from=%d&to=%d&limit=31", t0, t0+629_000),
		fmt.Sprintf("/udf/history?symbol=BTC-USD&resolution=1S&from=%d&to=%d", t0/1000, (t0+629_000)/1000),
		fmt.Sprintf("/udf/history?symbol=BTC-USD&resolution=1S&countback=3&to=%d", (t0+629_000)/1000),
	} {
		_, got := mixed.do(t, "GET", p, nil)
		_, want := caughtUp.do(t, "GET", p, nil)
		if string(got) != string(want) {
			t.Errorf("GET %s\nstore behind: %s\ncaught up:    %s", p, got, want)
		}
	}
}
