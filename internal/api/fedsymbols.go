package api

import (
	"fmt"
	"net/http"

	"github.com/findash/findash/internal/market"
)

// refuseFedSymbols refuses an ingest batch with a tick of a symbol an
// exchange feed owns (Deps.FedSymbols): 409 symbol_fed naming the first
// such symbol and its venue. One symbol has one source (decision 0020): a
// POSTed tick would land between the venue's trades, mixing two prices
// under one name and breaking the feed's restart mark (the last logged
// trade id).
func (a *API) refuseFedSymbols(ticks []market.Tick) error {
	if len(a.d.FedSymbols) == 0 {
		return nil
	}
	last := ""
	for i := range ticks {
		s := ticks[i].Symbol
		if s == last {
			continue // runs of one symbol are the rule
		}
		last = s
		if venue, ok := a.d.FedSymbols[s]; ok {
			return &httpError{status: http.StatusConflict, code: "symbol_fed",
				message: fmt.Sprintf("%s is fed by the %s exchange feed (--feed-symbols): ticks of it cannot be posted (one symbol, one source: decision 0020)", s, venue)}
		}
	}
	return nil
}
