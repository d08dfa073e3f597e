package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/symbol"
)

var _ api.SymbolSearcher = (*symbol.Registry)(nil)

// TestUDFSearchRegistered: /udf/search also lists registered symbols with
// no live quote (a market whose history was only imported), merged with
// the live ones in name order, once each, within limit; /udf/symbols
// answers them.
func TestUDFSearchRegistered(t *testing.T) {
	var reg *symbol.Registry
	f := newFixture(t, func(_ *api.Config, d *api.Deps) {
		reg = symbol.New(d.Candles.(*sqlite.DB), symbol.Config{Max: 10}, nil, nil)
		d.Registered = reg
	})
	if err := reg.Register(context.Background(), []string{"DOGE-USD", "AAPL", "XRP-EUR"}, symbol.SourceImport); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"query=usd", []string{"BTC-USD", "DOGE-USD", "EUR/USD"}},
		{"query=usd&limit=2", []string{"BTC-USD", "DOGE-USD"}},
		{"query=", []string{"AAPL", "BTC-USD", "DOGE-USD", "EUR/USD", "XRP-EUR"}},
		{"query=doge", []string{"DOGE-USD"}},
		{"query=eur&limit=1", []string{"EUR/USD"}},
	} {
		resp, body := f.do(t, "GET", "/udf/search?"+tc.query, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /udf/search?%s = %d %s", tc.query, resp.StatusCode, body)
		}
		var res []struct {
			Symbol   string `json:"symbol"`
			FullName string `json:"full_name"`
		}
		decodeJSON(t, body, &res)
		got := []string{}
		for _, r := range res {
			got = append(got, r.Symbol)
			if r.FullName != "FINDASH:"+r.Symbol {
				t.Errorf("result %+v: want full_name FINDASH:symbol", r)
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("GET /udf/search?%s symbols (-want +got):\n%s", tc.query, diff)
		}
	}
	resp, body := f.do(t, "GET", "/udf/symbols?symbol=FINDASH:DOGE-USD", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"name":"DOGE-USD"`) {
		t.Errorf("GET /udf/symbols?symbol=DOGE-USD = %d %s, want 200 with its information", resp.StatusCode, body)
	}
	if resp, body := f.do(t, "GET", "/udf/symbols?symbol=SHIB-USD", nil); resp.StatusCode != 404 {
		t.Errorf("GET /udf/symbols of an unregistered symbol = %d %s, want 404", resp.StatusCode, body)
	}
}
