package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/findash/findash/internal/feed/fakeexchange"
)

// An instance feeding BTC-USDT from Binance (the fake exchange on a real
// WebSocket) refuses POSTed ticks of BTC-USDT with 409 symbol_fed and
// takes other symbols' (decision 0020).
func TestPostedTicksOfAFeedSymbolRefused(t *testing.T) {
	fake := fakeexchange.New(fakeexchange.Config{Venue: fakeexchange.Binance})
	venue := httptest.NewServer(fake)
	t.Cleanup(venue.Close)
	dir := t.TempDir()
	key := createAPIKey(t, dir)
	cfg := testConfig(t, dir, "--feed", "binance", "--feed-symbols", "BTC-USDT",
		"--binance-ws-url", "ws"+strings.TrimPrefix(venue.URL, "http"), "--binance-rest-url", venue.URL)
	in := start(t, cfg)
	now := time.Now().UnixMilli()
	if status, body := postTicks(t, in, key, ndjson("BTC-USDT", now, 0, 3)); status != 409 || !strings.Contains(body, `"symbol_fed"`) || !strings.Contains(body, "binance") {
		t.Errorf("POST BTC-USDT ticks = %d %s, want 409 symbol_fed naming binance", status, body)
	}
	if status, body := postTicks(t, in, key, ndjson("BTC-USD", now, 0, 3)); status != 202 {
		t.Errorf("POST BTC-USD ticks = %d %s, want 202", status, body)
	}
}
