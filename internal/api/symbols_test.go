package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/symbol"
)

const scopedToken = "fd_test_scoped"

// withRegistry admits ingest through a registry of cap max (strict or not)
// on its own SQLite store, and adds scopedToken, a key limited to BTC-*.
func withRegistry(t *testing.T, max int, strict bool) (option, *symbol.Registry) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "symbols.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	reg := symbol.New(db, symbol.Config{Max: max, Strict: strict}, nil, nil)
	return func(_ *api.Config, d *api.Deps) {
		d.Symbols = reg
		d.Auth = tokens{
			keyToken:    {UserID: 1, APIKeyID: 7},
			scopedToken: {UserID: 1, APIKeyID: 8, Symbols: "BTC-*"},
		}
	}, reg
}

func ticksOf(syms ...string) string {
	var b strings.Builder
	for _, s := range syms {
		fmt.Fprintf(&b, `{"symbol":%q,"ts":%d,"price":1,"size":1}`+"\n", s, testNow.UnixMilli())
	}
	return b.String()
}

func TestIngestSymbolAdmission(t *testing.T) {
	opt, _ := withRegistry(t, 3, false)
	f := newFixture(t, opt)
	tests := []struct {
		name      string
		token     string
		body      string
		status    int
		code      string
		published int // ticks published by this request
	}{
		{"new symbols under the cap", keyToken, ticksOf("AAA", "BBB", "AAA"), 202, "", 3},
		{"scoped key, in scope", scopedToken, ticksOf("BTC-USD"), 202, "", 1},
		{"scoped key, out of scope", scopedToken, ticksOf("ETH-USD"), 403, "symbol_forbidden", 0},
		{"scoped key, mixed batch", scopedToken, ticksOf("BTC-EUR", "ETH-USD"), 403, "symbol_forbidden", 0},
		{"two new past the cap", keyToken, ticksOf("AAA", "CCC", "DDD"), 422, "symbol_limit", 0},
		{"registered symbols at the cap", keyToken, ticksOf("AAA", "BTC-USD", "BBB"), 202, "", 3},
		{"one new at the cap", keyToken, ticksOf("EEE"), 422, "symbol_limit", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, before := f.pub.published()
			resp, body := f.do(t, "POST", "/api/v1/ticks", strings.NewReader(tt.body), "Authorization", "Bearer "+tt.token)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.code != "" {
				if code, msg := errorOf(t, body); code != tt.code {
					t.Errorf("code %q (%s), want %q", code, msg, tt.code)
				}
			}
			if _, after := f.pub.published(); after-before != tt.published {
				t.Errorf("published %d ticks, want %d", after-before, tt.published)
			}
		})
	}
}

func TestIngestStrictSymbols(t *testing.T) {
	opt, reg := withRegistry(t, 10, true)
	f := newFixture(t, opt)
	post := func() (int, string) {
		resp, body := f.do(t, "POST", "/api/v1/ticks", strings.NewReader(ticksOf("NEW-SYM")), "Authorization", "Bearer "+keyToken)
		if resp.StatusCode == 202 {
			return 202, ""
		}
		code, _ := errorOf(t, body)
		return resp.StatusCode, code
	}
	if status, code := post(); status != 422 || code != "unknown_symbol" {
		t.Fatalf("unregistered symbol in strict mode: %d %s, want 422 unknown_symbol", status, code)
	}
	if err := reg.Register(context.Background(), []string{"NEW-SYM"}, symbol.SourceAdmin); err != nil {
		t.Fatal(err)
	}
	if status, code := post(); status != 202 {
		t.Fatalf("registered symbol in strict mode: %d %s, want 202", status, code)
	}
}

var _ api.SymbolAdmitter = (*symbol.Registry)(nil)

// TestCreateScopedAPIKey: a signed-in user creates a key limited to symbol
// patterns; the key lists them, and ingest with it is scoped (the real
// auth service: the patterns travel from the store to the principal).
func TestCreateScopedAPIKey(t *testing.T) {
	opt, _ := withRegistry(t, 100, false)
	f := newAccountsFixture(t, opt, func(_ *api.Config, d *api.Deps) { d.Auth = d.Accounts })
	browser, _ := f.signupLogin(t, "scoper@example.com")
	if resp, body := browser.do(t, "POST", "/api/v1/apikeys", map[string]any{"name": "bad", "symbols": []string{"btc-*"}}); resp.StatusCode != 400 {
		t.Fatalf("bad pattern: %d %s, want 400", resp.StatusCode, body)
	}
	var key struct {
		Symbols []string `json:"symbols"`
		Secret  string   `json:"secret"`
	}
	b := browser.must(t, 201, "POST", "/api/v1/apikeys", map[string]any{"name": "btc feed", "symbols": []string{"BTC-*", " ETH-USD", "BTC-*"}})
	if err := json.Unmarshal(b, &key); err != nil || strings.Join(key.Symbols, ",") != "BTC-*,ETH-USD" {
		t.Fatalf("created key = %s (%v), want symbols BTC-*, ETH-USD", b, err)
	}
	if !strings.Contains(string(browser.must(t, 200, "GET", "/api/v1/apikeys", nil)), `"symbols":["BTC-*","ETH-USD"]`) {
		t.Errorf("the key list does not show the patterns")
	}
	feed := f.program(key.Secret)
	feed.must(t, 202, "POST", "/api/v1/ticks", ticksOf("BTC-USD", "ETH-USD"))
	if resp, body := feed.do(t, "POST", "/api/v1/ticks", ticksOf("SOL-USD")); resp.StatusCode != 403 {
		t.Fatalf("out of scope with a scoped key from the API: %d %s, want 403", resp.StatusCode, body)
	}
}
