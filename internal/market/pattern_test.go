package market_test

import (
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/findash/findash/internal/market"
)

func TestSymbolPatternsMatch(t *testing.T) {
	tests := []struct {
		patterns string
		sym      string
		want     bool
	}{
		{"", "ANY", true},
		{"*", "ANY", true},
		{"BTC-*", "BTC-USD", true},
		{"BTC-*", "BTC-", true},
		{"BTC-*", "ETH-USD", false},
		{"BTC-*", "XBTC-USD", false},
		{"*-USD", "ETH-USD", true},
		{"*-USD", "ETH-USDT", false},
		{"B*C-*D", "BTC-USD", true},
		{"B*C-*D", "BTC-USDT", false},
		{"ETH-USD", "ETH-USD", true},
		{"ETH-USD", "ETH-USDT", false},
		{"BTC-*,ETH-USD", "ETH-USD", true},
		{"BTC-*,ETH-USD", "SOL-USD", false},
		{" BTC-* , ETH-USD ", "ETH-USD", true},
		{"**", "X", true},
		{"A*A*A", "AAAA", true},
		{"A*A*A", "AA", false},
	}
	for _, tt := range tests {
		t.Run(tt.patterns+"/"+tt.sym, func(t *testing.T) {
			ps, err := market.ParseSymbolPatterns(tt.patterns)
			if err != nil {
				t.Fatalf("ParseSymbolPatterns(%q): %v", tt.patterns, err)
			}
			if got := ps.Match(tt.sym); got != tt.want {
				t.Errorf("ParseSymbolPatterns(%q).Match(%q) = %v, want %v", tt.patterns, tt.sym, got, tt.want)
			}
		})
	}
}

func TestParseSymbolPatternsErrors(t *testing.T) {
	for _, in := range []string{"btc-*", "BTC-*,,ETH", "BTC USD", "BTC-?", strings.Repeat("A", 33), strings.Repeat("A,", market.MaxPatterns) + "B"} {
		if _, err := market.ParseSymbolPatterns(in); !errors.Is(err, market.ErrInvalid) {
			t.Errorf("ParseSymbolPatterns(%q) error = %v, want ErrInvalid", in, err)
		}
	}
	ps, err := market.ParseSymbolPatterns("ETH-USD, BTC-*,ETH-USD")
	if err != nil || ps.String() != "ETH-USD,BTC-*" {
		t.Errorf("ParseSymbolPatterns dedup = %q, %v; want %q", ps.String(), err, "ETH-USD,BTC-*")
	}
	if ps.All() {
		t.Errorf("%q.All() = true", ps)
	}
	if all, _ := market.ParseSymbolPatterns("BTC-*,*"); !all.All() {
		t.Errorf("%q.All() = false", all)
	}
}

// FuzzSymbolPatterns checks that parsing never panics, that what parses
// prints back to itself, and that matching agrees with path.Match (whose
// '*' is the same wildcard when no '/' is involved).
func FuzzSymbolPatterns(f *testing.F) {
	for _, s := range []string{"", "*", "BTC-*", "*-USD,ETH-USD", "A*A*A", "B*C-*D", "btc", ",", "A,,B"} {
		f.Add(s, "BTC-USD")
	}
	f.Fuzz(func(t *testing.T, in, sym string) {
		ps, err := market.ParseSymbolPatterns(in)
		if err != nil {
			return
		}
		again, err := market.ParseSymbolPatterns(ps.String())
		if err != nil || again.String() != ps.String() {
			t.Fatalf("%q → %q → %q, %v", in, ps.String(), again.String(), err)
		}
		if !market.ValidSymbol(sym) || strings.Contains(sym, "/") {
			return
		}
		want := ps == ""
		for _, p := range ps.List() {
			if ok, _ := path.Match(p, sym); ok {
				want = true
			}
		}
		if got := ps.Match(sym); got != want {
			t.Fatalf("%q.Match(%q) = %v, path.Match says %v", ps.String(), sym, got, want)
		}
	})
}
