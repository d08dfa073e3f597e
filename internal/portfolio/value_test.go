package portfolio_test

import (
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/portfolio"
)

func ptr(f float64) *float64 { return &f }

// TestValue: value and P&L at the quotes, rounded like every derived
// number; a holding without a quote stays unpriced and out of the value
// totals; a zero cost has no P&L percentage.
func TestValue(t *testing.T) {
	hs := []portfolio.Holding{
		{ID: 1, Symbol: "AAA", Quantity: 3, CostBasis: 0.1}, // cost 0.30000000000000004 unrounded
		{ID: 2, Symbol: "BTC-USD", Quantity: 0.5, CostBasis: 40000},
		{ID: 3, Symbol: "FREE", Quantity: 10, CostBasis: 0},
		{ID: 4, Symbol: "NOQUOTE", Quantity: 1, CostBasis: 5},
	}
	quotes := []market.Quote{{Symbol: "BTC-USD", Price: 43775, TS: 7}, {Symbol: "AAA", Price: 0.2, TS: 8}, {Symbol: "FREE", Price: 1, TS: 9}}
	got := portfolio.Value(hs, quotes)
	want := portfolio.Summary{
		Holdings: []portfolio.Valued{
			{Holding: hs[0], Cost: 0.3, Price: ptr(0.2), QuoteTS: 8, Value: ptr(0.6), PnL: ptr(0.3), PnLPct: ptr(100)},
			{Holding: hs[1], Cost: 20000, Price: ptr(43775), QuoteTS: 7, Value: ptr(21887.5), PnL: ptr(1887.5), PnLPct: ptr(9.4375)},
			{Holding: hs[2], Cost: 0, Price: ptr(1), QuoteTS: 9, Value: ptr(10), PnL: ptr(10)},
			{Holding: hs[3], Cost: 5},
		},
		Priced: 3, Cost: 20005.3, Value: 21898.1, PnL: 1897.8, PnLPct: ptr(9.48885766713),
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("Value (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		sym       string
		qty, cost float64
		ok        bool
	}{
		{"BTC-USD", 1, 1, true}, {"BTC-USD", 1e15, 1e12, true}, {"BTC-USD", 1, 0, true},
		{"BTC-USD", 0, 1, false}, {"BTC-USD", -1, 1, false}, {"BTC-USD", 1e16, 1, false}, {"BTC-USD", 1, -1, false},
		{"BTC-USD", 1, 1e13, false}, {"bad sym", 1, 1, false},
	} {
		if err := portfolio.Validate(tc.sym, tc.qty, tc.cost, true); (err == nil) != tc.ok {
			t.Errorf("Validate(%q, %g, %g) = %v, want ok %v", tc.sym, tc.qty, tc.cost, err, tc.ok)
		}
	}
}
