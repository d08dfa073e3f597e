package hostile_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// defaultMaxSymbols is findash's default --max-symbols.
const defaultMaxSymbols = 10_000

// floodBody is an NDJSON batch of n ticks, one for each of n new symbols
// FLOOD-<first>…FLOOD-<first+n-1>, dated now.
func floodBody(first, n int) string {
	var b strings.Builder
	b.Grow(n * 72)
	ts := time.Now().UnixMilli()
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, `{"symbol":"FLOOD-%07d","price":1.5,"size":1,"ts":%d}`+"\n", i, ts)
	}
	return b.String()
}

// errorCode is the error.code of an error body, or "".
func errorCode(body string) string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal([]byte(body), &e)
	return e.Error.Code
}

// timed fetches path and returns how long the answer took.
func (s *server) timed(path string) time.Duration {
	s.t.Helper()
	t0 := time.Now()
	code, body := s.Get(path)
	d := time.Since(t0)
	if code != 200 {
		s.t.Fatalf("GET %s: %d %.200s", path, code, body)
	}
	return d
}

// TestSymbolFlood is issue 13 item 3: one API key posts 1M distinct new
// symbols in batched NDJSON POSTs. Past --max-symbols (default 10,000) a
// batch with a new symbol is refused whole with 422 symbol_limit, the
// server's memory grows by at most 100 MB over the flood, and /symbols and
// /movers stay fast. Before the registry every batch was accepted (650K
// symbols took 7.5 GB).
func TestSymbolFlood(t *testing.T) {
	s := startServer(t, options{user: "flood@example.com"})
	// Warm the paths the flood takes, so the baseline holds their code and
	// buffers rather than counting them as growth.
	if code, body := s.PostTicks(floodBody(0, 10)); code != 202 {
		t.Fatalf("first batch: %d %s", code, body)
	}
	s.timed("/api/v1/symbols?limit=1")
	s.timed("/api/v1/movers?limit=1")
	before := s.RSS()

	const total, batch = 1_000_000, 4_000
	accepted, rejected := 10, 0
	t0 := time.Now()
	for first := 10; first < total; first += batch {
		n := min(batch, total-first)
		code, body := s.PostTicks(floodBody(first, n))
		switch {
		case code == 202:
			accepted += n
			if accepted > defaultMaxSymbols {
				t.Fatalf("batch at %d accepted: %d symbols taken, more than the cap %d", first, accepted, defaultMaxSymbols)
			}
		case code == 422 && errorCode(body) == "symbol_limit":
			rejected += n
			if accepted+n <= defaultMaxSymbols {
				t.Fatalf("batch at %d refused although %d+%d symbols fit under the cap: %s", first, accepted, n, body)
			}
		default:
			t.Fatalf("batch at %d: %d %.300s", first, code, body)
		}
	}
	t.Logf("%d symbols attempted in %s: %d accepted, %d refused", total, time.Since(t0).Round(time.Millisecond), accepted, rejected)

	// Fill the cap exactly: a batch that fits is taken, one more symbol is not.
	if room := defaultMaxSymbols - accepted; room > 0 {
		if code, body := s.PostTicks(floodBody(total, room)); code != 202 {
			t.Fatalf("batch filling the cap (%d symbols): %d %s", room, code, body)
		}
		accepted += room
	}
	if code, body := s.PostTicks(floodBody(total+defaultMaxSymbols, 1)); code != 422 || errorCode(body) != "symbol_limit" {
		t.Fatalf("one symbol past the cap: %d %s, want 422 symbol_limit", code, body)
	}
	// Ticks of symbols already registered are still taken.
	if code, body := s.PostTicks(floodBody(5, 3)); code != 202 {
		t.Fatalf("ticks of registered symbols after the flood: %d %s", code, body)
	}

	// Wait for the live state to hold every accepted symbol.
	deadline := time.Now().Add(60 * time.Second)
	for s.Metric("findash_symbols_registered") < defaultMaxSymbols || s.Metric("findash_market_symbols") < defaultMaxSymbols {
		if time.Now().After(deadline) {
			t.Fatalf("registered %v, in the live state %v; want %d", s.Metric("findash_symbols_registered"), s.Metric("findash_market_symbols"), defaultMaxSymbols)
		}
		time.Sleep(100 * time.Millisecond) // polling another process
	}
	after := s.RSS()
	t.Logf("Go heap in use after the flood: %.0f MB (live state %v symbols, %v with statistics)",
		s.Metric("go_memstats_heap_inuse_bytes")/(1<<20), s.Metric("findash_market_symbols"), s.Metric("findash_market_symbols_active"))
	growth := after - before
	t.Logf("RSS %d MB → %d MB: +%d MB for %d symbols (≤ %d bytes per symbol, everything included)",
		before>>20, after>>20, growth>>20, accepted, growth/int64(accepted))
	if growth > 100<<20 {
		t.Errorf("RSS grew by %d MB over the flood, want ≤ 100 MB", growth>>20)
	}
	if v := s.Metric("findash_symbols_rejected_total", `reason="limit"`); v < float64(rejected) {
		t.Errorf("findash_symbols_rejected_total{reason=limit} = %v, want ≥ %d", v, rejected)
	}

	// Reads over every symbol stay fast; distinct limits miss the response
	// cache, so each answer is computed.
	var worst time.Duration
	for i := range 5 {
		for _, p := range []string{"/api/v1/symbols?limit=%d", "/api/v1/movers?limit=%d"} {
			worst = max(worst, s.timed(fmt.Sprintf(p, 90+i)))
		}
	}
	t.Logf("slowest /symbols or /movers with %d symbols: %s", accepted, worst)
	if worst > 100*time.Millisecond {
		t.Errorf("slowest /symbols or /movers took %s, want < 100ms", worst)
	}
}

// scopedKey issues another API key for user, limited to the symbol patterns.
func scopedKey(t *testing.T, s *server, user, patterns string) string {
	t.Helper()
	cmd := exec.Command(binary, "user", "key", "--email", user, "--name", "scoped", "--symbols", patterns, "--quiet")
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("findash user key --symbols %s: %v\n%s", patterns, err, out)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		t.Fatalf("findash user key printed nothing")
	}
	return f[len(f)-1]
}

// postTicksAs posts an NDJSON body with key.
func (s *server) postTicksAs(key, body string) (int, string) {
	s.t.Helper()
	saved := s.APIKey
	s.APIKey = key
	defer func() { s.APIKey = saved }()
	return s.PostTicks(body)
}

// TestSymbolScopes is the "any key writes any symbol" half of issue 13
// item 4: a key scoped to BTC-* writes BTC-USD but gets 403
// symbol_forbidden for ETH-USD, and nothing of a batch mixing both is
// taken; an unscoped key writes either.
func TestSymbolScopes(t *testing.T) {
	s := startServer(t, options{user: "scopes@example.com"})
	btc := scopedKey(t, s, "scopes@example.com", "BTC-*")
	now := time.Now().UnixMilli()
	tick := func(sym string) string {
		return fmt.Sprintf(`{"symbol":%q,"price":100,"size":1,"ts":%d}`+"\n", sym, now)
	}
	if code, body := s.postTicksAs(btc, tick("BTC-USD")); code != 202 {
		t.Fatalf("BTC-USD with a BTC-* key: %d %s, want 202", code, body)
	}
	code, body := s.postTicksAs(btc, tick("ETH-USD"))
	if code != http.StatusForbidden || errorCode(body) != "symbol_forbidden" {
		t.Fatalf("ETH-USD with a BTC-* key: %d %s, want 403 symbol_forbidden", code, body)
	}
	if !strings.Contains(body, "ETH-USD") {
		t.Errorf("403 does not name the symbol: %s", body)
	}
	if code, body := s.postTicksAs(btc, tick("BTC-EUR")+tick("ETH-USD")); code != http.StatusForbidden {
		t.Fatalf("mixed batch with a BTC-* key: %d %s, want 403", code, body)
	}
	if code, body := s.PostTicks(tick("ETH-USD")); code != 202 {
		t.Fatalf("ETH-USD with an unscoped key: %d %s, want 202", code, body)
	}
	// Nothing of the mixed batch was taken: BTC-EUR was never registered.
	if code, body := s.Get("/api/v1/quotes?symbols=BTC-EUR"); code != 200 || strings.Contains(body, "BTC-EUR") {
		t.Errorf("BTC-EUR from a refused batch is served: %d %s", code, body)
	}
	if v := s.Metric("findash_symbols_rejected_total", `reason="scope"`); v < 2 {
		t.Errorf("findash_symbols_rejected_total{reason=scope} = %v, want ≥ 2", v)
	}
}

// symbolCmd runs `findash symbol …` on the server's data directory.
func (s *server) symbolCmd(args ...string) (string, error) {
	s.t.Helper()
	cmd := exec.Command(binary, append([]string{"symbol"}, args...)...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSymbolStrict: with --strict-symbols only symbols an operator
// registered take ticks: an unknown one is 422 unknown_symbol; once `findash
// symbol add` has registered it (on the database, while the server runs)
// it is taken at once; after `findash symbol remove` it is refused again
// (within the registry's refresh). `symbol add` past the cap registers
// nothing.
func TestSymbolStrict(t *testing.T) {
	s := startServer(t, options{user: "strict@example.com", args: []string{"--strict-symbols", "--max-symbols", "3"}})
	tick := fmt.Sprintf(`{"symbol":"NEW-SYM","price":1,"size":1,"ts":%d}`+"\n", time.Now().UnixMilli())
	if code, body := s.PostTicks(tick); code != 422 || errorCode(body) != "unknown_symbol" {
		t.Fatalf("unregistered symbol, strict: %d %s, want 422 unknown_symbol", code, body)
	}
	if out, err := s.symbolCmd("add", "NEW-SYM", "OTHER"); err != nil {
		t.Fatalf("findash symbol add: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The server looks again at most once a second after a refusal.
		code, body := s.PostTicks(tick)
		if code == 202 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registered symbol, strict: %d %s, want 202", code, body)
		}
		time.Sleep(200 * time.Millisecond) // polling another process
	}
	out, err := s.symbolCmd("add", "--max-symbols", "3", "A1", "A2")
	if err == nil || !strings.Contains(out, "nothing registered") {
		t.Fatalf("symbol add past the cap: %v\n%s", err, out)
	}
	out, err = s.symbolCmd("list", "--quiet")
	if err != nil || strings.Fields(out) == nil || strings.Join(strings.Fields(out), " ") != "NEW-SYM OTHER" {
		t.Fatalf("symbol list = %q, %v; want NEW-SYM OTHER", out, err)
	}
	if out, err := s.symbolCmd("remove", "OTHER", "NOPE"); err == nil || !strings.Contains(out, "removed OTHER") || !strings.Contains(out, "not registered: NOPE") {
		t.Fatalf("symbol remove OTHER NOPE: %v\n%s", err, out)
	}
	if v := s.Metric("findash_symbols_rejected_total", `reason="unknown"`); v < 1 {
		t.Errorf("findash_symbols_rejected_total{reason=unknown} = %v, want ≥ 1", v)
	}
}
