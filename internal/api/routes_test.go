package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/findash/findash/internal/market"
)

// TestGolden pins the JSON of every route (and of the errors) in
// testdata/*.golden.
func TestGolden(t *testing.T) {
	f := newFixture(t)
	from, to := t0, t0+4*60_000
	tests := []struct {
		name   string
		path   string
		status int
	}{
		{"livez", "/livez", 200},
		{"readyz_ok", "/readyz", 200},
		{"symbols", "/api/v1/symbols", 200},
		{"symbols_page", "/api/v1/symbols?limit=2", 200},
		{"quotes_all", "/api/v1/quotes", 200},
		{"quotes_some", "/api/v1/quotes?symbols=EUR/USD,BTC-USD,NOPE", 200},
		{"candles_default", "/api/v1/candles/BTC-USD?limit=3", 200},
		{"candles_range", fmt.Sprintf("/api/v1/candles/EUR/USD?interval=1m&from=%d&to=%d", from, to), 200},
		{"candles_page", fmt.Sprintf("/api/v1/candles/AAPL?interval=5m&from=%d&to=%d&limit=1", from, t0+15*60_000), 200},
		{"candles_1s_empty", fmt.Sprintf("/api/v1/candles/AAPL?interval=1s&from=%d&to=%d", t0+1, t0+999), 200},
		{"movers", "/api/v1/movers", 200},
		{"movers_1", "/api/v1/movers?limit=1", 200},
		{"error_invalid_symbol", "/api/v1/quotes?symbols=btc", 400},
		{"error_invalid_interval", "/api/v1/candles/AAPL?interval=2m", 400},
		{"error_invalid_limit", "/api/v1/candles/AAPL?limit=1001", 400},
		{"error_from_after_to", "/api/v1/candles/AAPL?from=2&to=1", 400},
		{"error_bad_cursor", "/api/v1/candles/AAPL?cursor=xyz", 400},
		{"error_not_found", "/api/v1/nope", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "GET", tt.path, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("GET %s = %d, want %d: %s", tt.path, resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if resp.StatusCode >= 400 {
				errorOf(t, body)
			}
			golden(t, tt.name, indent(t, body))
		})
	}
}

// TestCandlesOpenOverridesStore: the store lacks the newest ticks; the
// live open candle replaces the stored one of its bucket.
func TestCandlesOpenOverridesStore(t *testing.T) {
	f := newFixture(t)
	_, body := f.do(t, "GET", fmt.Sprintf("/api/v1/candles/BTC-USD?interval=1h&from=%d&to=%d", t0, t0), nil)
	var got struct{ Data []market.Candle }
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 1 || got.Data[0].Count != 32 {
		t.Fatalf("1h candle = %+v, want one candle of all 32 ticks (store has 30)", got.Data)
	}
}

// TestCandlesPagination walks a range page by page with next_cursor and
// gets every candle once, oldest first.
func TestCandlesPagination(t *testing.T) {
	f := newFixture(t)
	path := fmt.Sprintf("/api/v1/candles/AAPL?interval=1m&from=%d&to=%d&limit=3", t0, t0+20*60_000)
	var starts []int64
	for pages := 0; path != ""; pages++ {
		if pages > 10 {
			t.Fatal("more than 10 pages")
		}
		resp, body := f.do(t, "GET", path, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
		}
		var page struct {
			Data       []market.Candle
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Data {
			starts = append(starts, c.Start)
		}
		path = ""
		if page.NextCursor != "" {
			path = "/api/v1/candles/AAPL?interval=1m&cursor=" + page.NextCursor
		}
	}
	var want []int64
	for m := range int64(11) { // ticks span minutes 0..10
		want = append(want, t0+m*60_000)
	}
	if diff := cmpDiff(want, starts); diff != "" {
		t.Errorf("candle starts over all pages (-want +got):\n%s", diff)
	}
	// A cursor of another symbol is refused.
	_, body := f.do(t, "GET", fmt.Sprintf("/api/v1/candles/AAPL?limit=1&from=%d&to=%d", t0, t0+20*60_000), nil)
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	json.Unmarshal(body, &page)
	if resp, body := f.do(t, "GET", "/api/v1/candles/BTC-USD?cursor="+page.NextCursor, nil); resp.StatusCode != 400 {
		t.Errorf("cursor of AAPL used for BTC-USD = %d %s, want 400", resp.StatusCode, body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		method, path, allow string
	}{
		{"POST", "/api/v1/quotes", "GET, HEAD"},
		{"DELETE", "/api/v1/candles/AAPL", "GET, HEAD"},
		{"GET", "/api/v1/ticks", "POST"},
		{"PUT", "/readyz", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := f.do(t, tt.method, tt.path, nil)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("%s %s = %d, want 405", tt.method, tt.path, resp.StatusCode)
			}
			if code, _ := errorOf(t, body); code != "method_not_allowed" {
				t.Errorf("code = %q, want method_not_allowed", code)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestIndexPage(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, "GET", "/", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"findash v0.0.0-test", "stage 1", "/api/v1/quotes", "/ws", "/api/v1/openapi.json"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("index page lacks %q", want)
		}
	}
	if strings.Contains(string(body), "<script") {
		t.Error("index page has a script")
	}
	if resp, body := f.do(t, "GET", "/ws", nil); resp.StatusCode != 200 || string(body) != "websocket here" {
		t.Errorf("GET /ws did not reach the WebSocket handler: %d %q", resp.StatusCode, body)
	}
}
