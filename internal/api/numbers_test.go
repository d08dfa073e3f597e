package api_test

import (
	"strings"
	"testing"

	"github.com/findash/findash/internal/market"
)

// TestNumbersWithoutFloatNoise: derived values leave the API as short
// decimals (decision 0009), not 100.1 − 104.06 = −3.960000000000008.
func TestNumbersWithoutFloatNoise(t *testing.T) {
	f := newFixture(t)
	var u market.Update
	f.state.Apply([]market.Tick{
		{Symbol: "NOISE", TS: t0, Seq: 1 << 20, Price: 104.06, Size: 0.1},
		{Symbol: "NOISE", TS: t0 + 1000, Seq: 1<<20 + 1, Price: 100.1, Size: 0.2},
	}, &u)
	resp, body := f.do(t, "GET", "/api/v1/quotes?symbols=NOISE", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET quotes = %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{`"price":100.1,`, `"change_24h":-3.96,`, `"change_pct_24h":-3.80549682875`, `"volume_24h":0.3,`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("quotes body lacks %s:\n%s", want, body)
		}
	}
}
