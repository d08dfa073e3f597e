package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/symbol"
)

// SymbolAdmitter decides whether an API key may post ticks of a batch's
// symbols, registering new ones within the cap (satisfied by
// *symbol.Registry). It returns a *symbol.RejectError to refuse the batch.
type SymbolAdmitter interface {
	Admit(ctx context.Context, w symbol.Writer, syms []string) error
}

// admitSymbols checks the symbols of an ingest batch against p's API key
// scope and the registry before anything is published: a symbol outside
// the key's patterns is 403 symbol_forbidden; an unregistered one in
// strict mode 422 unknown_symbol; a new one past the cap 422
// symbol_limit (docs/decisions/0012-symbol-registry.md says why 422). The
// batch is refused whole.
func (a *API) admitSymbols(ctx context.Context, p auth.Principal, ticks []market.Tick) error {
	if a.d.Symbols == nil {
		return nil
	}
	err := a.d.Symbols.Admit(ctx, symbol.Writer{APIKeyID: p.APIKeyID, Patterns: p.Symbols}, batchSymbols(ticks))
	var re *symbol.RejectError
	if !errors.As(err, &re) {
		return err
	}
	switch re.Reason {
	case symbol.ReasonScope:
		return &httpError{status: http.StatusForbidden, code: "symbol_forbidden", message: re.Error()}
	case symbol.ReasonUnknown:
		return &httpError{status: http.StatusUnprocessableEntity, code: "unknown_symbol", message: re.Error()}
	default:
		return &httpError{status: http.StatusUnprocessableEntity, code: "symbol_limit", message: re.Error()}
	}
}

// batchSymbols returns the distinct symbols of ticks, in order of first
// appearance. The log groups a batch by symbol, so runs are the rule.
func batchSymbols(ticks []market.Tick) []string {
	var out []string
	var seen map[string]struct{}
	last := ""
	for i := range ticks {
		s := ticks[i].Symbol
		if s == last {
			continue
		}
		last = s
		if len(out) == 1 && seen == nil {
			seen = map[string]struct{}{out[0]: {}}
		}
		if seen != nil {
			if _, ok := seen[s]; ok {
				continue
			}
			seen[s] = struct{}{}
		}
		out = append(out, s)
	}
	return out
}
