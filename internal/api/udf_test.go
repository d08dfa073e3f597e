package api_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
)

// udfBars is /udf/history's answer as a client decodes it.
type udfBars struct {
	S        string    `json:"s"`
	ErrMsg   string    `json:"errmsg"`
	T        []int64   `json:"t"`
	O        []float64 `json:"o"`
	H        []float64 `json:"h"`
	L        []float64 `json:"l"`
	C        []float64 `json:"c"`
	V        []float64 `json:"v"`
	NextTime *int64    `json:"nextTime"`
}

func decodeJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

func TestUDFConfig(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, "GET", "/udf/config", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /udf/config = %d %s", resp.StatusCode, body)
	}
	var cfg struct {
		Resolutions []string `json:"supported_resolutions"`
		Search      bool     `json:"supports_search"`
		Group       bool     `json:"supports_group_request"`
		Time        bool     `json:"supports_time"`
		Marks       bool     `json:"supports_marks"`
	}
	decodeJSON(t, body, &cfg)
	want := []string{"1S", "1", "5", "15", "60", "1D"}
	if diff := cmp.Diff(want, cfg.Resolutions); diff != "" || !cfg.Search || cfg.Group || !cfg.Time || cfg.Marks {
		t.Errorf("GET /udf/config = %s, want resolutions %v, search and time only", body, want)
	}
}

func TestUDFTime(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, "GET", "/udf/time", nil)
	if resp.StatusCode != 200 || string(body) != strconv.FormatInt(testNow.Unix(), 10) {
		t.Errorf("GET /udf/time = %d %q, want 200 %d", resp.StatusCode, body, testNow.Unix())
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /udf/time Content-Type = %q, want text/plain", ct)
	}
}

func TestUDFSymbols(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		query      string
		status     int
		name       string
		pricescale int64
	}{
		{"symbol=BTC-USD", 200, "BTC-USD", 100},
		{"symbol=FINDASH:EUR/USD", 200, "EUR/USD", 1_000_000},
		{"symbol=AAPL", 200, "AAPL", 10_000},
		{"symbol=ZZZ", 404, "", 0},
		{"", 400, "", 0},
		{"symbol=a%20b", 400, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := f.do(t, "GET", "/udf/symbols?"+tc.query, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("GET /udf/symbols?%s = %d %s, want %d", tc.query, resp.StatusCode, body, tc.status)
			}
			var info struct {
				S          string   `json:"s"`
				ErrMsg     string   `json:"errmsg"`
				Name       string   `json:"name"`
				Ticker     string   `json:"ticker"`
				Session    string   `json:"session"`
				Timezone   string   `json:"timezone"`
				PriceScale int64    `json:"pricescale"`
				MinMov     int      `json:"minmov"`
				HasSeconds bool     `json:"has_seconds"`
				Res        []string `json:"supported_resolutions"`
			}
			decodeJSON(t, body, &info)
			if tc.status != 200 {
				if info.S != "error" || info.ErrMsg == "" {
					t.Errorf("GET /udf/symbols?%s = %s, want s error with errmsg", tc.query, body)
				}
				return
			}
			if info.Name != tc.name || info.Ticker != tc.name || info.PriceScale != tc.pricescale || info.MinMov != 1 ||
				info.Session != "24x7" || info.Timezone != "Etc/UTC" || !info.HasSeconds || len(info.Res) != 6 {
				t.Errorf("GET /udf/symbols?%s = %s, want %s with pricescale %d", tc.query, body, tc.name, tc.pricescale)
			}
		})
	}
}

func TestUDFSearch(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		query  string
		status int
		want   []string
	}{
		{"query=usd", 200, []string{"BTC-USD", "EUR/USD"}},
		{"query=usd&limit=1", 200, []string{"BTC-USD"}},
		{"query=", 200, []string{"AAPL", "BTC-USD", "EUR/USD"}},
		{"query=usd&exchange=FINDASH", 200, []string{"BTC-USD", "EUR/USD"}},
		{"query=usd&exchange=NYSE", 200, []string{}},
		{"query=zzz", 200, []string{}},
		{"query=usd&limit=0", 400, nil},
		{"query=usd&limit=101", 400, nil},
		{"query=" + strings.Repeat("A", 33), 400, nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := f.do(t, "GET", "/udf/search?"+tc.query, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("GET /udf/search?%s = %d %s, want %d", tc.query, resp.StatusCode, body, tc.status)
			}
			if tc.status != 200 {
				var e struct{ S, ErrMsg string }
				decodeJSON(t, body, &e)
				if e.S != "error" {
					t.Errorf("GET /udf/search?%s = %s, want s error", tc.query, body)
				}
				return
			}
			var res []struct {
				Symbol   string `json:"symbol"`
				FullName string `json:"full_name"`
				Exchange string `json:"exchange"`
				Ticker   string `json:"ticker"`
			}
			decodeJSON(t, body, &res)
			got := []string{}
			for _, r := range res {
				got = append(got, r.Symbol)
				if r.FullName != "FINDASH:"+r.Symbol || r.Ticker != r.Symbol || r.Exchange != "FINDASH" {
					t.Errorf("result %+v: want full_name FINDASH:symbol", r)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("GET /udf/search?%s symbols (-want +got):\n%s", tc.query, diff)
			}
		})
	}
}

// TestUDFHistoryMatchesCandles: /udf/history answers the same bars as
// /api/v1/candles over the same range, in seconds and columns.
func TestUDFHistoryMatchesCandles(t *testing.T) {
	f := newFixture(t)
	s0 := t0 / 1000
	for _, tc := range []struct {
		res, interval string
		from, to      int64 // seconds after t0
	}{
		{"1", "1m", 0, 300},     // 5 stored bars
		{"1", "1m", 540, 660},   // a stored bar and the live open one
		{"5", "5m", 0, 900},     // 5m, the last one live
		{"1S", "1s", 100, 200},  // sparse seconds
		{"D", "1d", -86400, 60}, // the day
	} {
		t.Run(tc.res, func(t *testing.T) {
			_, body := f.do(t, "GET", fmt.Sprintf("/udf/history?symbol=BTC-USD&resolution=%s&from=%d&to=%d", tc.res, s0+tc.from, s0+tc.to), nil)
			var got udfBars
			decodeJSON(t, body, &got)
			_, cbody := f.do(t, "GET", fmt.Sprintf("/api/v1/candles/BTC-USD?interval=%s&from=%d&to=%d&limit=1000", tc.interval, (s0+tc.from)*1000, (s0+tc.to)*1000-1), nil)
			var cs struct{ Data []market.Candle }
			decodeJSON(t, cbody, &cs)
			if len(cs.Data) == 0 {
				t.Fatalf("no candles to compare with: %s", cbody)
			}
			want := udfBars{S: "ok"}
			for _, c := range cs.Data {
				want.T = append(want.T, c.Start/1000)
				want.O, want.H, want.L, want.C, want.V = append(want.O, c.Open), append(want.H, c.High), append(want.L, c.Low), append(want.C, c.Close), append(want.V, c.Volume)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("/udf/history %s (-candles +udf):\n%s", tc.res, diff)
			}
		})
	}
}

func TestUDFHistory(t *testing.T) {
	f := newFixture(t)
	s0 := t0 / 1000
	get := func(t *testing.T, query string) (int, udfBars) {
		t.Helper()
		resp, body := f.do(t, "GET", "/udf/history?"+query, nil)
		var b udfBars
		decodeJSON(t, body, &b)
		return resp.StatusCode, b
	}
	t.Run("countback", func(t *testing.T) {
		// from is ignored: the 3 bars before to.
		status, b := get(t, fmt.Sprintf("symbol=BTC-USD&resolution=1&from=%d&to=%d&countback=3", s0+590, s0+600))
		if status != 200 || b.S != "ok" || !cmp.Equal(b.T, []int64{s0 + 420, s0 + 480, s0 + 540}) {
			t.Errorf("countback 3 = %d %+v, want bars at +420 +480 +540", status, b)
		}
	})
	t.Run("no data before anything", func(t *testing.T) {
		status, b := get(t, fmt.Sprintf("symbol=BTC-USD&resolution=1&from=%d&to=%d", s0-7200, s0-3600))
		if status != 200 || b.S != "no_data" || b.NextTime != nil || len(b.T) != 0 {
			t.Errorf("range before the data = %d %+v, want no_data without nextTime", status, b)
		}
	})
	t.Run("no data, nextTime", func(t *testing.T) {
		// After the data: nextTime is the newest stored bar before from.
		status, b := get(t, fmt.Sprintf("symbol=BTC-USD&resolution=1&from=%d&to=%d", s0+7200, s0+7260))
		if status != 200 || b.S != "no_data" || b.NextTime == nil || *b.NextTime != s0+540 {
			t.Errorf("range after the data = %d %+v, want no_data nextTime %d", status, b, s0+540)
		}
	})
	t.Run("to is exclusive", func(t *testing.T) {
		_, b := get(t, fmt.Sprintf("symbol=BTC-USD&resolution=1&from=%d&to=%d", s0, s0+120))
		if !cmp.Equal(b.T, []int64{s0, s0 + 60}) {
			t.Errorf("[t0, t0+120) = %v, want two bars", b.T)
		}
	})
	for _, tc := range []struct{ name, query string }{
		{"no symbol", "resolution=1&from=1&to=2"},
		{"bad symbol", "symbol=a%20b&resolution=1&from=1&to=2"},
		{"bad resolution", "symbol=BTC-USD&resolution=2&from=1&to=2"},
		{"weekly", "symbol=BTC-USD&resolution=1W&from=1&to=2"},
		{"no resolution", "symbol=BTC-USD&from=1&to=2"},
		{"no to", "symbol=BTC-USD&resolution=1&from=1"},
		{"no from", "symbol=BTC-USD&resolution=1&to=2"},
		{"from not before to", "symbol=BTC-USD&resolution=1&from=2&to=2"},
		{"milliseconds", fmt.Sprintf("symbol=BTC-USD&resolution=1&from=1&to=%d", t0)},
		{"negative", "symbol=BTC-USD&resolution=1&from=-5&to=2"},
		{"countback 0", "symbol=BTC-USD&resolution=1&to=2&countback=0"},
		{"countback too large", "symbol=BTC-USD&resolution=1&to=2&countback=5001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, b := get(t, tc.query)
			if status != 400 || b.S != "error" || b.ErrMsg == "" {
				t.Errorf("GET /udf/history?%s = %d %+v, want 400 s error", tc.query, status, b)
			}
		})
	}
}

// TestUDFHistoryTruncated: a range of more than 5,000 bars answers the
// newest 5,000 and counts it.
func TestUDFHistoryTruncated(t *testing.T) {
	f := newFixture(t)
	start := t0 - 3*3_600_000
	ticks := make([]market.Tick, 5001)
	r := market.NewRollup()
	for i := range ticks {
		ticks[i] = market.Tick{Symbol: "LOTS", TS: start + int64(i)*1000, Price: 10, Size: 1, Seq: uint64(1<<40 + i)}
		r.Add(&ticks[i])
	}
	if err := f.db.WriteBatch(t.Context(), market.Unpartitioned, ticks, r.Candles(), 0, 2, 2); err != nil {
		t.Fatal(err)
	}
	_, body := f.do(t, "GET", fmt.Sprintf("/udf/history?symbol=LOTS&resolution=1S&from=%d&to=%d", start/1000, start/1000+6000), nil)
	var b udfBars
	decodeJSON(t, body, &b)
	if b.S != "ok" || len(b.T) != 5000 || b.T[0] != start/1000+1 || b.T[4999] != start/1000+5000 {
		t.Errorf("5001 bars: s %s, %d bars, want the newest 5000", b.S, len(b.T))
	}
	if n := f.metric(t, "findash_udf_history_truncated_total"); n != 1 {
		t.Errorf("findash_udf_history_truncated_total = %v, want 1", n)
	}
}
