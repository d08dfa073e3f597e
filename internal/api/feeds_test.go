package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/findash/findash/internal/api"
)

// GET /api/v1/feeds answers each feed's status in the contract's shape
// (null for a time or lag not known yet), never cached; an instance without
// feeds answers an empty list, and one without the ingest role 421.
func TestFeeds(t *testing.T) {
	ts, lag := int64(1796385600000), 12.5
	statuses := []api.FeedStatus{
		{
			Venue: "binance", State: "connected", Symbols: []string{"BTC-USDT", "ETH-USDT"},
			LastMessageTS: &ts, LastMessageAgeMS: 120, LagMS: &lag, Reconnects: 1, GapsBackfilled: 2,
			BackfilledTrades: 1500, Messages: 10_000, Trades: 11_500,
		},
		{
			Venue: "coinbase", State: "degraded", Symbols: []string{"BTC-USD"}, LastMessageAgeMS: 12_000,
			Reconnects: 3, LastError: "dial tcp 127.0.0.1:1: connection refused",
		},
	}
	f := newFixture(t, func(_ *api.Config, d *api.Deps) { d.Feeds = func() []api.FeedStatus { return statuses } })
	resp, body := f.do(t, "GET", "/api/v1/feeds", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/feeds = %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	golden(t, "feeds", indent(t, body))

	none := newFixture(t)
	if resp, body := none.do(t, "GET", "/api/v1/feeds", nil); resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"data":[]}` {
		t.Errorf("GET /api/v1/feeds without feeds = %d %s, want 200 {\"data\":[]}", resp.StatusCode, body)
	}

	apiOnly := newFixture(t, func(c *api.Config, _ *api.Deps) { c.Roles = []string{api.RoleAPI} })
	if resp, body := apiOnly.do(t, "GET", "/api/v1/feeds", nil); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("GET /api/v1/feeds on an api-only instance = %d %s, want 421", resp.StatusCode, body)
	}
}
