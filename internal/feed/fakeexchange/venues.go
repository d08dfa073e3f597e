package fakeexchange

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// binanceStream serves /stream?streams=<symbol>@aggTrade/…, the combined
// stream endpoint.
func (e *Exchange) binanceStream(w http.ResponseWriter, r *http.Request) {
	var syms []string
	for _, s := range strings.Split(r.URL.Query().Get("streams"), "/") {
		if name, ok := strings.CutSuffix(s, "@aggTrade"); ok && name != "" {
			syms = append(syms, strings.ToUpper(name))
		}
	}
	if len(syms) == 0 {
		binanceError(w, http.StatusBadRequest, -1100, "Illegal characters found in parameter 'streams'.")
		return
	}
	c, ok := e.accept(w, r, syms)
	if !ok {
		return
	}
	e.serve(c, nil)
}

// binanceAggTrades serves GET /api/v3/aggTrades?symbol=&fromId=&limit=:
// the trades with an id at or above fromId, oldest first, at most limit
// (default 500, max 1000), as documented.
func (e *Exchange) binanceAggTrades(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sym := q.Get("symbol")
	from, err := strconv.ParseInt(q.Get("fromId"), 10, 64)
	if sym == "" || err != nil {
		binanceError(w, http.StatusBadRequest, -1102, "Mandatory parameter 'symbol' or 'fromId' was not sent, was empty/null, or malformed.")
		return
	}
	limit := 500
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 1000 {
			binanceError(w, http.StatusBadRequest, -1100, "Illegal characters found in parameter 'limit'.")
			return
		}
	}
	e.backfills.Add(1)
	hist := e.Trades(sym)
	i, _ := slices.BinarySearchFunc(hist, from, func(t Trade, id int64) int { return int(t.ID - id) })
	page := hist[i:min(len(hist), i+limit)]
	w.Header().Set("Content-Type", "application/json")
	w.Write(appendBinanceREST(nil, page))
}

func binanceError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "msg": msg})
}

// coinbaseSubscribe is the client's subscribe message; channels are names
// or {"name","product_ids"} objects.
type coinbaseSubscribe struct {
	Type       string            `json:"type"`
	ProductIDs []string          `json:"product_ids"`
	Channels   []json.RawMessage `json:"channels"`
}

// coinbaseStream serves the WebSocket feed at /: it waits for a subscribe
// to "matches" (and "heartbeat"), answers with "subscriptions", then
// streams matches and heartbeats of the products.
func (e *Exchange) coinbaseStream(w http.ResponseWriter, r *http.Request) {
	c, ok := e.accept(w, r, nil)
	if !ok {
		return
	}
	e.serve(c, func(msg []byte) {
		var sub coinbaseSubscribe
		if err := json.Unmarshal(msg, &sub); err != nil || sub.Type != "subscribe" || len(sub.ProductIDs) == 0 {
			c.write(appendFrame(nil, opText, Fixture("coinbase/error.json")))
			return
		}
		ans, _ := json.Marshal(map[string]any{"type": "subscriptions", "channels": []map[string]any{
			{"name": "matches", "product_ids": sub.ProductIDs}, {"name": "heartbeat", "product_ids": sub.ProductIDs},
		}})
		e.mu.Lock()
		defer e.mu.Unlock()
		c.write(appendFrame(nil, opText, ans))
		c.subscribe(sub.ProductIDs)
		// The matches channel starts with each product's last trade.
		for _, p := range sub.ProductIDs {
			if h := e.trades[p]; len(h) > 0 {
				c.write(appendFrame(nil, opText, appendCoinbaseMatch(nil, "last_match", &h[len(h)-1])))
			}
		}
	})
}

// coinbaseTrades serves GET /products/{product}/trades with cursor
// pagination: before=X gives the page of trades just newer than X, after=X
// the page just older, neither the newest page; each page newest first,
// at most limit (default and max 1000), with CB-BEFORE and CB-AFTER.
func (e *Exchange) coinbaseTrades(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 1000
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			coinbaseError(w, http.StatusBadRequest, "invalid limit")
			return
		}
		limit = n
	}
	hist := e.Trades(r.PathValue("product"))
	if hist == nil {
		coinbaseError(w, http.StatusNotFound, "NotFound")
		return
	}
	e.backfills.Add(1)
	idx := func(id int64) int {
		i, _ := slices.BinarySearchFunc(hist, id, func(t Trade, id int64) int { return int(t.ID - id) })
		return i
	}
	var page []Trade
	switch {
	case q.Get("before") != "":
		b, err := strconv.ParseInt(q.Get("before"), 10, 64)
		if err != nil {
			coinbaseError(w, http.StatusBadRequest, "invalid before")
			return
		}
		i := idx(b + 1)
		page = hist[i:min(len(hist), i+limit)]
	case q.Get("after") != "":
		a, err := strconv.ParseInt(q.Get("after"), 10, 64)
		if err != nil {
			coinbaseError(w, http.StatusBadRequest, "invalid after")
			return
		}
		j := idx(a)
		page = hist[max(0, j-limit):j]
	default:
		page = hist[max(0, len(hist)-limit):]
	}
	page = slices.Clone(page)
	slices.Reverse(page)
	if len(page) > 0 {
		w.Header().Set("Cb-Before", strconv.FormatInt(page[0].ID, 10))
		w.Header().Set("Cb-After", strconv.FormatInt(page[len(page)-1].ID, 10))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(appendCoinbaseREST(nil, page))
}

func coinbaseError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
