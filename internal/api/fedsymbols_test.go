package api_test

import (
	"strings"
	"testing"

	"github.com/findash/findash/internal/api"
)

// A batch with a tick of a symbol an exchange feed owns is refused whole
// with 409 symbol_fed naming the symbol and the venue, nothing published;
// other symbols are taken as before.
func TestIngestRefusesFedSymbols(t *testing.T) {
	f := newFixture(t, func(_ *api.Config, d *api.Deps) {
		d.FedSymbols = map[string]string{"BTC-USDT": "binance", "ETH-USD": "coinbase"}
	})
	tests := []struct {
		name      string
		body      string
		status    int
		venue     string // named in the message
		published int
	}{
		{"fed symbol", ticksOf("BTC-USDT"), 409, "binance", 0},
		{"fed symbol after another", ticksOf("SOL-EUR", "SOL-EUR", "ETH-USD"), 409, "coinbase", 0},
		{"symbol no feed owns", ticksOf("BTC-USD", "SOL-EUR"), 202, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, before := f.pub.published()
			resp, body := f.do(t, "POST", "/api/v1/ticks", strings.NewReader(tt.body), "Authorization", "Bearer "+keyToken)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.venue != "" {
				code, msg := errorOf(t, body)
				if code != "symbol_fed" || !strings.Contains(msg, tt.venue) {
					t.Errorf("error %q %q, want symbol_fed naming %s", code, msg, tt.venue)
				}
			}
			if _, after := f.pub.published(); after-before != tt.published {
				t.Errorf("published %d ticks, want %d", after-before, tt.published)
			}
		})
	}
}
