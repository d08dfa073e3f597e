package api

import (
	"net/http"
	"strconv"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/watchlist"
)

// watchlistJSON is a watchlist as the API shows it.
type watchlistJSON struct {
	ID        int64    `json:"id"`
	Name      string   `json:"name"`
	Symbols   []string `json:"symbols"`
	CreatedAt int64    `json:"created_at"` // Unix ms, UTC
	UpdatedAt int64    `json:"updated_at"` // Unix ms, UTC
}

func toWatchlistJSON(w watchlist.Watchlist) watchlistJSON {
	syms := w.Symbols
	if syms == nil {
		syms = []string{}
	}
	return watchlistJSON{ID: w.ID, Name: w.Name, Symbols: syms, CreatedAt: w.CreatedAt.UnixMilli(), UpdatedAt: w.UpdatedAt.UnixMilli()}
}

// watchlistIn is the body of POST and PUT (PUT replaces both fields).
type watchlistIn struct {
	Name    string   `json:"name"`
	Symbols []string `json:"symbols"`
}

func errNoWatchlists() error {
	return &httpError{status: http.StatusServiceUnavailable, code: "unavailable", message: "watchlists are not configured",
		header: http.Header{"Retry-After": {"60"}}}
}

// watchlistError maps the service's errors for clients: the per-user cap
// is 409 too_many_watchlists.
func watchlistError(err error, what string) error {
	if watchlist.IsTooMany(err) {
		return &httpError{status: http.StatusConflict, code: "too_many_watchlists",
			message: "at most " + strconv.Itoa(watchlist.MaxLists) + " watchlists per user; delete one first"}
	}
	return clean(err, what)
}

// listWatchlists: GET /api/v1/watchlists → {"data":[watchlist…]}, oldest
// first; never more than watchlist.MaxLists, so never paginated.
func (a *API) listWatchlists(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Watchlists == nil {
		a.writeError(w, r, errNoWatchlists())
		return
	}
	ws, err := a.d.Watchlists.List(r.Context(), p.UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := list[watchlistJSON]{Data: make([]watchlistJSON, 0, len(ws))}
	for _, wl := range ws {
		out.Data = append(out.Data, toWatchlistJSON(wl))
	}
	a.writeJSON(w, r, http.StatusOK, out)
}

// createWatchlist: POST /api/v1/watchlists {name, symbols} → 201.
func (a *API) createWatchlist(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Watchlists == nil {
		a.writeError(w, r, errNoWatchlists())
		return
	}
	var in watchlistIn
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	wl, err := a.d.Watchlists.Create(r.Context(), p.UserID, in.Name, in.Symbols)
	if err != nil {
		a.writeError(w, r, watchlistError(err, "user"))
		return
	}
	a.writeJSON(w, r, http.StatusCreated, toWatchlistJSON(wl))
}

// getWatchlist: GET /api/v1/watchlists/{id}. Another user's list is 404.
func (a *API) getWatchlist(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, ok := a.watchlistID(w, r)
	if !ok {
		return
	}
	wl, err := a.d.Watchlists.Get(r.Context(), p.UserID, id)
	if err != nil {
		a.writeError(w, r, watchlistError(err, "watchlist "+strconv.FormatInt(id, 10)))
		return
	}
	a.writeJSON(w, r, http.StatusOK, toWatchlistJSON(wl))
}

// putWatchlist: PUT /api/v1/watchlists/{id} {name, symbols} → 200, the list
// replaced. Another user's list is 404.
func (a *API) putWatchlist(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, ok := a.watchlistID(w, r)
	if !ok {
		return
	}
	var in watchlistIn
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	wl, err := a.d.Watchlists.Update(r.Context(), p.UserID, id, in.Name, in.Symbols)
	if err != nil {
		a.writeError(w, r, watchlistError(err, "watchlist "+strconv.FormatInt(id, 10)))
		return
	}
	a.writeJSON(w, r, http.StatusOK, toWatchlistJSON(wl))
}

// deleteWatchlist: DELETE /api/v1/watchlists/{id} → 204. Another user's
// list is 404.
func (a *API) deleteWatchlist(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, ok := a.watchlistID(w, r)
	if !ok {
		return
	}
	if err := a.d.Watchlists.Delete(r.Context(), p.UserID, id); err != nil {
		a.writeError(w, r, watchlistError(err, "watchlist "+strconv.FormatInt(id, 10)))
		return
	}
	w.Header()["Cache-Control"] = noStore
	w.WriteHeader(http.StatusNoContent)
}

// watchlistID reads the {id} of a watchlist route; when watchlists are not
// configured or the id is malformed it answers the request and reports false.
func (a *API) watchlistID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	if a.d.Watchlists == nil {
		a.writeError(w, r, errNoWatchlists())
		return 0, false
	}
	id, ok := pathID(r)
	if !ok {
		a.writeError(w, r, errNotFound("watchlist "+truncID(r)))
	}
	return id, ok
}

// patchWatchlist: PATCH /api/v1/watchlists/{id} {name?, symbols?} → 200:
// renames and/or replaces (reorders) the symbols. Another user's list is 404.
func (a *API) patchWatchlist(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, ok := a.watchlistID(w, r)
	if !ok {
		return
	}
	var in struct {
		Name    *string  `json:"name"`
		Symbols []string `json:"symbols"`
	}
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	wl, err := a.d.Watchlists.Patch(r.Context(), p.UserID, id, in.Name, in.Symbols)
	if err != nil {
		a.writeError(w, r, watchlistError(err, "watchlist "+strconv.FormatInt(id, 10)))
		return
	}
	a.writeJSON(w, r, http.StatusOK, toWatchlistJSON(wl))
}

// addWatchlistSymbol: POST /api/v1/watchlists/{id}/symbols {symbol,
// position?} → 200 the list. A symbol already there moves to position.
func (a *API) addWatchlistSymbol(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, ok := a.watchlistID(w, r)
	if !ok {
		return
	}
	var in struct {
		Symbol   string `json:"symbol"`
		Position *int   `json:"position"`
	}
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	wl, err := a.d.Watchlists.AddSymbol(r.Context(), p.UserID, id, in.Symbol, in.Position)
	if err != nil {
		a.writeError(w, r, watchlistError(err, "watchlist "+strconv.FormatInt(id, 10)))
		return
	}
	a.writeJSON(w, r, http.StatusOK, toWatchlistJSON(wl))
}

// removeWatchlistSymbol: DELETE /api/v1/watchlists/{id}/symbols/{symbol}
// → 200 the list. A symbol not in the list, or another user's list, is 404.
func (a *API) removeWatchlistSymbol(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, ok := a.watchlistID(w, r)
	if !ok {
		return
	}
	sym := r.PathValue("symbol")
	if len(sym) > 64 {
		sym = sym[:64]
	}
	wl, err := a.d.Watchlists.RemoveSymbol(r.Context(), p.UserID, id, r.PathValue("symbol"))
	if err != nil {
		a.writeError(w, r, watchlistError(err, "symbol "+strconv.Quote(sym)+" in watchlist "+strconv.FormatInt(id, 10)))
		return
	}
	a.writeJSON(w, r, http.StatusOK, toWatchlistJSON(wl))
}
