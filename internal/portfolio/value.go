package portfolio

import "github.com/findash/findash/internal/market"

// Valued is a holding at a quote. Price, Value, PnL and PnLPct are nil
// when the symbol has no quote (no tick yet).
type Valued struct {
	Holding
	Cost    float64  // Quantity × CostBasis
	Price   *float64 // last trade price
	QuoteTS int64    // ms since epoch, UTC, of that price; 0 without one
	Value   *float64 // Quantity × Price
	PnL     *float64 // Value − Cost
	PnLPct  *float64 // PnL / Cost × 100; nil also when Cost is 0
}

// Summary is a valued portfolio and its totals over the holdings that
// have a quote (Priced of them); Cost counts every holding.
type Summary struct {
	Holdings []Valued
	Priced   int
	Cost     float64 // every holding
	Value    float64 // holdings with a quote
	PnL      float64 // Value − the cost of the holdings with a quote
	PnLPct   *float64
}

// Value values hs at quotes (any order; symbols without one stay
// unpriced). Derived numbers are rounded by market.RoundDerived, as every
// value findash computes.
func Value(hs []Holding, quotes []market.Quote) Summary {
	bySym := make(map[string]market.Quote, len(quotes))
	for _, q := range quotes {
		bySym[q.Symbol] = q
	}
	out := Summary{Holdings: make([]Valued, 0, len(hs))}
	var pricedCost float64
	for _, h := range hs {
		v := Valued{Holding: h, Cost: h.Quantity * h.CostBasis}
		out.Cost += v.Cost
		if q, ok := bySym[h.Symbol]; ok && q.Price > 0 {
			price, value := q.Price, h.Quantity*q.Price
			pnl := value - v.Cost
			v.Price, v.QuoteTS = &price, q.TS
			v.Value, v.PnL = ptr(market.RoundDerived(value)), ptr(market.RoundDerived(pnl))
			if v.Cost > 0 {
				v.PnLPct = ptr(market.RoundDerived(pnl / v.Cost * 100))
			}
			out.Priced++
			out.Value += value
			pricedCost += v.Cost
		}
		v.Cost = market.RoundDerived(v.Cost)
		out.Holdings = append(out.Holdings, v)
	}
	out.PnL = out.Value - pricedCost
	if pricedCost > 0 {
		out.PnLPct = ptr(market.RoundDerived(out.PnL / pricedCost * 100))
	}
	out.Cost, out.Value, out.PnL = market.RoundDerived(out.Cost), market.RoundDerived(out.Value), market.RoundDerived(out.PnL)
	return out
}

func ptr(f float64) *float64 { return &f }
