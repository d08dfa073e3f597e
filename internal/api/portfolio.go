package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/portfolio"
)

// holdingJSON is a holding valued at the live quote. price, value, pnl and
// pnl_pct are null while the symbol has no quote.
type holdingJSON struct {
	ID        int64    `json:"id"`
	Symbol    string   `json:"symbol"`
	Quantity  float64  `json:"quantity"`
	CostBasis float64  `json:"cost_basis"` // average price paid per unit
	Cost      float64  `json:"cost"`       // quantity × cost_basis
	Price     *float64 `json:"price"`
	QuoteTS   *int64   `json:"quote_ts"` // Unix ms, UTC, of price
	Value     *float64 `json:"value"`    // quantity × price
	PnL       *float64 `json:"pnl"`      // value − cost
	PnLPct    *float64 `json:"pnl_pct"`  // pnl / cost × 100; null also when cost is 0
	CreatedAt int64    `json:"created_at"`
	UpdatedAt int64    `json:"updated_at"`
}

type portfolioJSON struct {
	Holdings []holdingJSON `json:"holdings"`
	Totals   struct {
		Cost   float64  `json:"cost"`    // every holding
		Value  float64  `json:"value"`   // holdings with a quote
		PnL    float64  `json:"pnl"`     // value − cost of the holdings with a quote
		PnLPct *float64 `json:"pnl_pct"` // null when that cost is 0
		Priced int      `json:"priced"`  // holdings with a quote
	} `json:"totals"`
	AsOf int64 `json:"as_of"` // Unix ms, UTC: when the quotes were read
}

func toHoldingJSON(v portfolio.Valued) holdingJSON {
	j := holdingJSON{ID: v.ID, Symbol: v.Symbol, Quantity: v.Quantity, CostBasis: v.CostBasis, Cost: v.Cost,
		Price: v.Price, Value: v.Value, PnL: v.PnL, PnLPct: v.PnLPct,
		CreatedAt: v.CreatedAt.UnixMilli(), UpdatedAt: v.UpdatedAt.UnixMilli()}
	if v.Price != nil {
		ts := v.QuoteTS
		j.QuoteTS = &ts
	}
	return j
}

type holdingIn struct {
	Symbol    string   `json:"symbol"`
	Quantity  *float64 `json:"quantity"`
	CostBasis *float64 `json:"cost_basis"`
}

func errNoPortfolio() error {
	return &httpError{status: http.StatusServiceUnavailable, code: "unavailable", message: "portfolios are not configured",
		header: http.Header{"Retry-After": {"60"}}}
}

// portfolioError maps the service's errors: the per-user cap is 409
// too_many_holdings, a second holding of a symbol 409 conflict.
func portfolioError(err error, what string) error {
	switch {
	case portfolio.IsTooMany(err):
		return &httpError{status: http.StatusConflict, code: "too_many_holdings",
			message: "at most " + strconv.Itoa(portfolio.MaxHoldings) + " holdings per user; delete one first"}
	case errors.Is(err, market.ErrConflict):
		return &httpError{status: http.StatusConflict, code: "conflict", message: "the portfolio already holds this symbol; change that holding instead"}
	}
	return clean(err, what)
}

// value values hs at the live quotes.
func (a *API) value(hs []portfolio.Holding) portfolioJSON {
	syms := make([]string, len(hs))
	for i, h := range hs {
		syms[i] = h.Symbol
	}
	var quotes []market.Quote
	if len(syms) > 0 {
		quotes = a.d.Market.Quotes(syms)
	}
	s := portfolio.Value(hs, quotes)
	out := portfolioJSON{Holdings: make([]holdingJSON, 0, len(s.Holdings)), AsOf: a.now().UnixMilli()}
	for _, v := range s.Holdings {
		out.Holdings = append(out.Holdings, toHoldingJSON(v))
	}
	out.Totals.Cost, out.Totals.Value, out.Totals.PnL, out.Totals.PnLPct, out.Totals.Priced = s.Cost, s.Value, s.PnL, s.PnLPct, s.Priced
	return out
}

// getPortfolio: GET /api/v1/portfolio → the caller's holdings valued at the
// live quotes, ordered by symbol, with totals. Never cached.
func (a *API) getPortfolio(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Portfolio == nil {
		a.writeError(w, r, errNoPortfolio())
		return
	}
	hs, err := a.d.Portfolio.List(r.Context(), p.UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusOK, a.value(hs))
}

// addHolding: POST /api/v1/portfolio/holdings {symbol, quantity,
// cost_basis} → 201 the holding, valued.
func (a *API) addHolding(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Portfolio == nil {
		a.writeError(w, r, errNoPortfolio())
		return
	}
	var in holdingIn
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := requireNumbers(in); err != nil {
		a.writeError(w, r, clean(err, "holding"))
		return
	}
	h, err := a.d.Portfolio.Add(r.Context(), p.UserID, in.Symbol, *in.Quantity, *in.CostBasis)
	if err != nil {
		a.writeError(w, r, portfolioError(err, "user"))
		return
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusCreated, a.value([]portfolio.Holding{h}).Holdings[0])
}

// putHolding: PUT /api/v1/portfolio/holdings/{id} {quantity, cost_basis}
// → 200 the holding, valued. Another user's holding is 404.
func (a *API) putHolding(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, ok := a.holdingID(w, r)
	if !ok {
		return
	}
	var in holdingIn
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if in.Symbol != "" {
		a.writeError(w, r, clean(market.Invalid("symbol", "cannot change; delete the holding and add another"), "holding"))
		return
	}
	if err := requireNumbers(in); err != nil {
		a.writeError(w, r, clean(err, "holding"))
		return
	}
	h, err := a.d.Portfolio.Update(r.Context(), p.UserID, id, *in.Quantity, *in.CostBasis)
	if err != nil {
		a.writeError(w, r, portfolioError(err, "holding "+strconv.FormatInt(id, 10)))
		return
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusOK, a.value([]portfolio.Holding{h}).Holdings[0])
}

// deleteHolding: DELETE /api/v1/portfolio/holdings/{id} → 204. Another
// user's holding is 404.
func (a *API) deleteHolding(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, ok := a.holdingID(w, r)
	if !ok {
		return
	}
	if err := a.d.Portfolio.Delete(r.Context(), p.UserID, id); err != nil {
		a.writeError(w, r, portfolioError(err, "holding "+strconv.FormatInt(id, 10)))
		return
	}
	w.Header()["Cache-Control"] = noStore
	w.WriteHeader(http.StatusNoContent)
}

func requireNumbers(in holdingIn) error {
	if in.Quantity == nil {
		return market.Invalid("quantity", "is required")
	}
	if in.CostBasis == nil {
		return market.Invalid("cost_basis", "is required")
	}
	return nil
}

// holdingID reads the {id} of a holding route; when portfolios are not
// configured or the id is malformed it answers and reports false.
func (a *API) holdingID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	if a.d.Portfolio == nil {
		a.writeError(w, r, errNoPortfolio())
		return 0, false
	}
	id, ok := pathID(r)
	if !ok {
		a.writeError(w, r, errNotFound("holding "+truncID(r)))
	}
	return id, ok
}
