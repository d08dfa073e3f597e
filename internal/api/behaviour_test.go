package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/market"
)

func TestETagAnd304(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/api/v1/quotes", "/api/v1/symbols", "/api/v1/movers", "/api/v1/candles/AAPL"} {
		t.Run(path, func(t *testing.T) {
			resp, body := f.do(t, "GET", path, nil)
			etag := resp.Header.Get("ETag")
			if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
				t.Fatalf("ETag = %q, want a strong tag", etag)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=1" {
				t.Errorf("Cache-Control = %q, want public, max-age=1", cc)
			}
			resp, b := f.do(t, "GET", path, nil, "If-None-Match", `"other", W/`+etag)
			if resp.StatusCode != http.StatusNotModified || len(b) != 0 {
				t.Errorf("If-None-Match with the ETag = %d (%d bytes), want 304, empty", resp.StatusCode, len(b))
			}
			if got := resp.Header.Get("ETag"); got != etag {
				t.Errorf("304 ETag = %q, want %q", got, etag)
			}
			resp, b = f.do(t, "GET", path, nil, "If-None-Match", `"stale"`)
			if resp.StatusCode != 200 || string(b) != string(body) {
				t.Errorf("If-None-Match with another tag = %d, want 200 and the body", resp.StatusCode)
			}
		})
	}
}

func TestClosedCandlesCachedLonger(t *testing.T) {
	f := newFixture(t)
	// Minutes 0..4 ended long before testNow and before the newest bucket.
	resp, _ := f.do(t, "GET", fmt.Sprintf("/api/v1/candles/AAPL?from=%d&to=%d", t0, t0+4*60_000), nil)
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=10" {
		t.Errorf("closed range Cache-Control = %q, want public, max-age=10", cc)
	}
	// A range holding the open bucket is live.
	resp, _ = f.do(t, "GET", fmt.Sprintf("/api/v1/candles/AAPL?from=%d&to=%d", t0, t0+10*60_000), nil)
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=1" {
		t.Errorf("open range Cache-Control = %q, want public, max-age=1", cc)
	}
}

// TestQuotesMicroCache: a quote changed within LiveTTL is not seen; after
// LiveTTL it is. The cache's clock is the bubble's fake one.
func TestQuotesMicroCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newBareFixture(t, func(c *api.Config, _ *api.Deps) { c.LiveTTL = 100 * time.Millisecond })
		h := f.api.Handler()
		price := func() float64 {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/quotes?symbols=AAPL", nil))
			var got struct{ Data []market.Quote }
			json.Unmarshal(w.Body.Bytes(), &got)
			if len(got.Data) != 1 {
				t.Fatalf("quotes = %d %s", w.Code, w.Body)
			}
			return got.Data[0].Price
		}
		before := price()
		var u market.Update
		f.state.Apply([]market.Tick{{Symbol: "AAPL", TS: t0 + 640_000, Price: 1, Size: 1, Seq: 99 << 16}}, &u)
		time.Sleep(99 * time.Millisecond) // fake time
		if got := price(); got != before {
			t.Errorf("price within the TTL = %v, want the cached %v", got, before)
		}
		time.Sleep(2 * time.Millisecond) // fake time: past the TTL
		if got := price(); got != 1 {
			t.Errorf("price after the TTL = %v, want 1", got)
		}
	})
}

func TestPostTicks(t *testing.T) {
	good := `{"symbol":"BTC-USD","ts":1795781000000,"price":43000,"size":1}
{"symbol":"AAPL","ts":1795781000001,"price":180,"size":2}
`
	bad := good + `{"symbol":"AAPL","ts":1795781000002,"price":-1,"size":2}
{"symbol":"bad","ts":1795781000002,"price":1,"size":2}
`
	bearer := "Bearer " + keyToken
	tests := []struct {
		name      string
		body      string
		header    []string
		pubErr    error
		status    int
		code      string
		message   string // substring
		lines     string // substring of the body
		published int    // ticks published
	}{
		{name: "ndjson", body: good, header: []string{"Authorization", bearer}, status: 202, published: 2},
		{name: "array", body: `[{"symbol":"X","ts":1795781000000,"price":1,"size":0}]`, header: []string{"Authorization", bearer}, status: 202, published: 1},
		{name: "no key", body: good, status: 401, code: "unauthenticated"},
		{name: "wrong key", body: good, header: []string{"Authorization", "Bearer nope"}, status: 401, code: "unauthenticated"},
		{name: "not bearer", body: good, header: []string{"Authorization", "Basic " + keyToken}, status: 401, code: "unauthenticated"},
		{name: "session token", body: good, header: []string{"Authorization", "Bearer " + sessionToken}, status: 403, code: "forbidden"},
		{name: "bad line", body: bad, header: []string{"Authorization", bearer}, status: 400, code: "invalid_tick", message: "line 3: price: -1 is below the minimum price 1e-12 (and 1 more)",
			lines: `"lines":[{"line":3,"field":"price","reason":"price_too_low","message":"-1 is below the minimum price 1e-12"},{"line":4,"field":"symbol","reason":"symbol_invalid","message":"\"bad\" is not a symbol (1-32 chars of A-Z 0-9 . - _ /)"}]`},
		{name: "dated 2099", body: `{"symbol":"X","ts":4070908800000,"price":1}`, header: []string{"Authorization", bearer}, status: 400, code: "invalid_tick", lines: `"reason":"ts_in_future"`},
		{name: "empty", body: "\n", header: []string{"Authorization", bearer}, status: 400, code: "invalid_tick"},
		{name: "log down", body: good, header: []string{"Authorization", bearer}, pubErr: fmt.Errorf("publish: %w", market.ErrUnavailable), status: 503, code: "unavailable"},
		{name: "log broken", body: good, header: []string{"Authorization", bearer}, pubErr: errBoom, status: 500, code: "internal", message: "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.pub.err = tt.pubErr
			resp, body := f.do(t, "POST", "/api/v1/ticks", strings.NewReader(tt.body), tt.header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("POST = %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if tt.status == 202 {
				if want := fmt.Sprintf(`{"accepted":%d}`+"\n", tt.published); string(body) != want {
					t.Errorf("body = %q, want %q", body, want)
				}
			} else {
				code, msg := errorOf(t, body)
				if code != tt.code || !strings.Contains(msg, tt.message) {
					t.Errorf("error = %s %q, want %s containing %q", code, msg, tt.code, tt.message)
				}
				if !strings.Contains(string(body), tt.lines) {
					t.Errorf("error body %s, want it to contain %s", body, tt.lines)
				}
			}
			if _, n := f.pub.published(); n != tt.published {
				t.Errorf("published %d ticks, want %d", n, tt.published)
			}
			if tt.status == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestPostTicksTooLarge(t *testing.T) {
	f := newFixture(t)
	line := `{"symbol":"BTC-USD","ts":1795781000000,"price":43000,"size":1}` + "\n"
	big := strings.Repeat(line, (4<<20)/len(line)+1)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			var body = strings.NewReader(big)
			req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/ticks", body)
			if chunked {
				req, _ = http.NewRequest("POST", f.srv.URL+"/api/v1/ticks", struct{ *strings.Reader }{body}) // hides the length
			}
			req.Header.Set("Authorization", "Bearer "+keyToken)
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b [512]byte
			n, _ := resp.Body.Read(b[:])
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("POST of %d bytes = %d, want 413", len(big), resp.StatusCode)
			}
			if code, _ := errorOf(t, b[:n]); code != "payload_too_large" {
				t.Errorf("code = %q, want payload_too_large", code)
			}
		})
	}
	if calls, _ := f.pub.published(); calls != 0 {
		t.Errorf("Publish called %d times, want 0", calls)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(c *api.Config, _ *api.Deps) {
		c.ReadLimit = api.Limit{Rate: 0.001, Burst: 3}
		c.IngestLimit = api.Limit{Rate: 0.001, Burst: 1}
	})
	for i := range 3 {
		if resp, _ := f.do(t, "GET", "/api/v1/quotes", nil); resp.StatusCode != 200 {
			t.Fatalf("read %d = %d, want 200", i, resp.StatusCode)
		}
	}
	resp, body := f.do(t, "GET", "/api/v1/movers", nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th read = %d, want 429", resp.StatusCode)
	}
	if code, _ := errorOf(t, body); code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("429 = %s, Retry-After %q", code, resp.Header.Get("Retry-After"))
	}
	if resp, _ := f.do(t, "GET", "/readyz", nil); resp.StatusCode != 200 {
		t.Errorf("/readyz is rate limited: %d", resp.StatusCode)
	}
	tick := `{"symbol":"X","ts":1795781000000,"price":1,"size":0}`
	if resp, _ := f.do(t, "POST", "/api/v1/ticks", strings.NewReader(tick), "Authorization", "Bearer "+keyToken); resp.StatusCode != 202 {
		t.Fatalf("first ingest = %d, want 202", resp.StatusCode)
	}
	if resp, _ := f.do(t, "POST", "/api/v1/ticks", strings.NewReader(tick), "Authorization", "Bearer "+keyToken); resp.StatusCode != 429 {
		t.Fatalf("second ingest = %d, want 429", resp.StatusCode)
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name     string
		db, c    error
		draining bool
		status   int
		want     string
	}{
		{"ok", nil, nil, false, 200, "ok"},
		{"degraded", nil, errBoom, false, 200, "degraded"},
		{"down", errBoom, nil, false, 503, "down"},
		{"down by timeout", context.DeadlineExceeded, nil, false, 503, "down"},
		{"draining", nil, nil, true, 503, "down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.setCheck("database", tt.db)
			f.setCheck("cache", tt.c)
			f.api.SetDraining(tt.draining)
			resp, body := f.do(t, "GET", "/readyz", nil)
			var got struct {
				Status   string
				Draining bool
				Checks   map[string]struct{ Status, Error string }
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || got.Status != tt.want || got.Draining != tt.draining {
				t.Fatalf("/readyz = %d %s, want %d status %q", resp.StatusCode, body, tt.status, tt.want)
			}
			if tt.draining {
				return
			}
			if tt.db != nil && (got.Checks["database"].Status != "down" || got.Checks["database"].Error == "") {
				t.Errorf("database check = %+v, want down with an error", got.Checks["database"])
			}
			if tt.c != nil && got.Checks["cache"].Status != "down" {
				t.Errorf("cache check = %+v, want down", got.Checks["cache"])
			}
		})
	}
	t.Run("draining func", func(t *testing.T) {
		f := newFixture(t, func(_ *api.Config, d *api.Deps) { d.Draining = func() bool { return true } })
		if resp, _ := f.do(t, "GET", "/readyz", nil); resp.StatusCode != 503 {
			t.Errorf("/readyz while Deps.Draining = %d, want 503", resp.StatusCode)
		}
	})
}

func TestRequestIDAndRecovery(t *testing.T) {
	f := newFixture(t, func(_ *api.Config, d *api.Deps) {
		d.WebSocket = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("handler bug") })
	})
	resp, _ := f.do(t, "GET", "/livez", nil, "X-Request-Id", "abc-123")
	if got := resp.Header.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("X-Request-Id = %q, want the client's abc-123", got)
	}
	resp, _ = f.do(t, "GET", "/livez", nil, "X-Request-Id", "bad id{}")
	if got := resp.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
		t.Errorf("X-Request-Id = %q, want a generated one", got)
	}
	resp, body := f.do(t, "GET", "/ws", nil)
	if resp.StatusCode != 500 {
		t.Fatalf("panicking handler = %d, want 500", resp.StatusCode)
	}
	if code, msg := errorOf(t, body); code != "internal" || msg != "internal error" {
		t.Errorf("panic answer = %s %q", code, msg)
	}
	// Still serving, and the request is in the duration histogram by route.
	if resp, _ := f.do(t, "GET", "/livez", nil); resp.StatusCode != 200 {
		t.Errorf("after a panic /livez = %d", resp.StatusCode)
	}
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "findash_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "GET /ws" && labels["status"] == "500" && m.GetHistogram().GetSampleCount() == 1 {
				found = true
			}
		}
	}
	if !found {
		t.Error(`no findash_http_request_duration_seconds{route="GET /ws",status="500"} sample`)
	}
}
