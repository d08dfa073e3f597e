package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/testenv"
)

// TestImportSearchable: a market whose history was only imported (not one
// of the simulator's) is registered by the import (source import), so a
// server started on the data dir finds it in /udf/search next to the
// simulator's symbols, and answers /udf/symbols and /udf/history for it.
func TestImportSearchable(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	path := filepath.Join(dir, "WXYZUSDT-trades-2024-03-01.csv")
	os.WriteFile(path, []byte("1,12.5,1,12.5,1709251200000,true,true\n2,13,2,26,1709251230000,false,true\n"), 0o644)
	if out, stderr, err := findash(t, "import", "binance", path, "--data-dir", data, "--log-format", "json"); err != nil || !strings.Contains(out, "2 new") {
		t.Fatalf("import binance = %q, %v (%s)", out, err, stderr)
	}
	out, _, err := findash(t, "symbol", "list", "--data-dir", data, "--log-format", "json")
	if err != nil || !strings.Contains(out, "WXYZ-USDT") || !strings.Contains(out, "import") {
		t.Fatalf("symbol list after import = %q, %v; want WXYZ-USDT from import", out, err)
	}

	in := start(t, testConfig(t, data, "--feed", "simulator", "--simulator-symbols", "3", "--simulator-rate", "20"))
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(in.url(path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := get("/udf/search?query=xyz")
	var res []struct {
		Symbol string `json:"symbol"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &res) != nil || len(res) != 1 || res[0].Symbol != "WXYZ-USDT" {
		t.Fatalf("GET /udf/search?query=xyz = %d %s, want WXYZ-USDT alone", status, body)
	}
	// With the simulator's symbols: every symbol, live or imported. The
	// simulator registers its symbols with its first ticks, which a loaded
	// machine can delay past the server's readiness.
	if !testenv.WaitFor(10*time.Second, func() bool {
		status, body = get("/udf/search?query=&limit=100")
		return status == 200 && strings.Contains(body, `"WXYZ-USDT"`) && strings.Count(body, `"symbol"`) == 4
	}) {
		t.Errorf("GET /udf/search = %d %s, want the simulator's 3 symbols and WXYZ-USDT", status, body)
	}
	if status, body = get("/udf/symbols?symbol=WXYZ-USDT"); status != 200 || !strings.Contains(body, `"name":"WXYZ-USDT"`) {
		t.Errorf("GET /udf/symbols?symbol=WXYZ-USDT = %d %s", status, body)
	}
	if status, body = get("/udf/history?symbol=WXYZ-USDT&resolution=60&from=1709251200&to=1709254800"); status != 200 || !strings.Contains(body, `"s":"ok"`) || !strings.Contains(body, `"c":[13]`) {
		t.Errorf("GET /udf/history of the import = %d %s, want one bar closing at 13", status, body)
	}
}

// TestImportSymbolLimit: an import whose symbol would pass --max-symbols
// fails with a clear error and writes nothing of that symbol; one within
// the cap goes on.
func TestImportSymbolLimit(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	common := []string{"--data-dir", data, "--log-format", "json", "--max-symbols", "1"}
	first := filepath.Join(dir, "AAAUSDT-trades-2024-03-01.csv")
	os.WriteFile(first, []byte("1,10,1,10,1709251200000,true,true\n"), 0o644)
	second := filepath.Join(dir, "BBBUSDT-trades-2024-03-01.csv")
	os.WriteFile(second, []byte("1,20,1,20,1709251200000,true,true\n"), 0o644)
	csvPath := filepath.Join(dir, "ticks.csv")
	os.WriteFile(csvPath, []byte("symbol,ts,price,size\nAAA-USDT,1709251300000,11,1\nCCC-USD,1709251300000,30,1\n"), 0o644)

	// No simulator: its 20 symbols would not fit a cap of 1.
	imp := func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		err := run(t.Context(), append(append([]string{"import"}, args...), common...), []string{"FINDASH_FEED=none"}, nil, &out, &errb)
		return out.String(), errb.String(), err
	}
	if out, stderr, err := imp("binance", first); err != nil {
		t.Fatalf("import of the first symbol = %q, %v (%s)", out, err, stderr)
	}
	for _, args := range [][]string{{"binance", second}, {"binance", first, second}, {"csv", csvPath}} {
		_, stderr, err := imp(args...)
		if err == nil || !strings.Contains(stderr+err.Error(), "would pass the cap of 1 registered symbols") {
			t.Errorf("import %v past the cap: error %v (%s), want one naming the cap", args, err, stderr)
		}
	}
	db, err := sqlite.Open(t.Context(), filepath.Join(data, "findash.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for sym, want := range map[string]int{"AAA-USDT": 1, "BBB-USDT": 0, "CCC-USD": 0} {
		cs, err := db.Candles(t.Context(), market.CandleQuery{Symbol: sym, Interval: market.Interval1h, From: market.MinTS, To: market.MaxTS, Limit: 10})
		if err != nil || len(cs) != want || (want == 1 && cs[0].Count != 1) {
			t.Errorf("Candles(%s) = %+v, %v; want %d candle(s), AAA-USDT's of its first tick only", sym, cs, err, want)
		}
	}
}
