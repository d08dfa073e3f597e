package api

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/findash/findash/internal/market"
)

// maxQuoteSymbols bounds ?symbols= of /api/v1/quotes.
const maxQuoteSymbols = market.MaxLimit

// symbolInfo is one entry of /api/v1/symbols.
type symbolInfo struct {
	Symbol string       `json:"symbol"`
	Quote  market.Quote `json:"quote"`
}

// symbols: GET /api/v1/symbols?limit=&cursor= — known symbols with their
// latest quote, sorted by symbol, paginated.
func (a *API) symbols(w http.ResponseWriter, r *http.Request) {
	q := readQuery(r)
	limit, err := parseLimit(&q, market.DefaultLimit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	after := ""
	if c := q.Get("cursor"); c != "" {
		var cur symbolCursor
		if err := decodeCursor(c, &cur); err != nil {
			a.writeError(w, r, err)
			return
		}
		after = cur.After
	}
	key := "symbols:" + strconv.Itoa(limit) + ":" + after
	a.serveCached(w, r, key, a.cfg.LiveTTL, liveCache, func(context.Context) (any, error) {
		page := a.d.Market.QuotesAfter(after, limit+1) // one more: is there a next page?
		out := list[symbolInfo]{Data: make([]symbolInfo, 0, min(limit, len(page)))}
		for _, qt := range page[:min(limit, len(page))] {
			out.Data = append(out.Data, symbolInfo{Symbol: qt.Symbol, Quote: qt})
		}
		if len(page) > limit {
			out.NextCursor = encodeCursor(symbolCursor{After: out.Data[limit-1].Symbol})
		}
		return out, nil
	})
}

// quotes: GET /api/v1/quotes?symbols=A,B — the latest quotes of the known
// symbols asked (every known symbol when absent), in the order asked.
func (a *API) quotes(w http.ResponseWriter, r *http.Request) {
	q := readQuery(r)
	raw := q.Get("symbols")
	var syms []string
	if raw != "" {
		syms = strings.Split(raw, ",")
		if len(syms) > maxQuoteSymbols {
			a.writeError(w, r, market.Invalid("symbols", "at most %d symbols per request", maxQuoteSymbols))
			return
		}
		for _, s := range syms {
			if err := market.CheckSymbol("symbols", s); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
	}
	if syms == nil {
		a.serveCached(w, r, "quotes:", a.cfg.LiveTTL, liveCache, func(context.Context) (any, error) {
			qs := a.d.Market.Quotes(nil)
			if qs == nil {
				qs = []market.Quote{}
			}
			return list[market.Quote]{Data: qs}, nil
		})
		return
	}
	a.serveQuotesOf(w, r, syms)
}

// serveQuotesOf answers /api/v1/quotes?symbols= from each symbol's cached
// quote JSON, joined: the lists asked are too many to cache whole (five of
// 20 symbols make 3.2 million), so a cache keyed by the list missed nearly
// every time and rendered and stored a body per request. Each quote is
// read once per Config.LiveTTL, as the whole list was; the quotes of one
// answer may then come from reads up to that far apart. They are cached in
// this process only (quoteCache): at stage 2+ a Redis round trip per symbol
// would cost more than reading the quote from memory again.
func (a *API) serveQuotesOf(w http.ResponseWriter, r *http.Request, syms []string) {
	body := make([]byte, 0, 16+160*len(syms))
	body = append(body, `{"data":[`...)
	n := 0
	for _, sym := range syms {
		q, err := a.quoteCache.Get(r.Context(), sym, a.cfg.LiveTTL, func(context.Context) (*response, error) {
			qs := a.d.Market.Quotes([]string{sym})
			if len(qs) == 0 {
				return &response{}, nil // unknown: no entry in the list
			}
			resp, err := render(qs[0])
			if err != nil {
				return nil, err
			}
			resp.body = resp.body[:len(resp.body)-1] // render's newline
			return resp, nil
		})
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if len(q.body) == 0 {
			continue
		}
		if n > 0 {
			body = append(body, ',')
		}
		body = append(body, q.body...)
		n++
	}
	writeCached(w, r, newResponse(append(body, "]}\n"...)), liveCache)
}

// movers: GET /api/v1/movers?limit=10 — top gainers and losers by
// change_pct_24h.
func (a *API) movers(w http.ResponseWriter, r *http.Request) {
	q := readQuery(r)
	n, err := parseLimit(&q, 10)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.serveCached(w, r, "movers:"+strconv.Itoa(n), a.cfg.LiveTTL, liveCache, func(context.Context) (any, error) {
		g, l := a.d.Market.Movers(n)
		if g == nil {
			g = []market.Quote{}
		}
		if l == nil {
			l = []market.Quote{}
		}
		return struct {
			Gainers []market.Quote `json:"gainers"`
			Losers  []market.Quote `json:"losers"`
		}{g, l}, nil
	})
}

// candles: GET /api/v1/candles/{symbol}?interval=1m&from=&to=&limit=&cursor=
// — candles oldest first. Defaults: interval 1m, to now, from such that the
// range holds limit buckets ending with the one holding to. The live open
// candle overrides the stored one of its bucket (the store lags).
func (a *API) candles(w http.ResponseWriter, r *http.Request) {
	sym := r.PathValue("symbol")
	if err := market.CheckSymbol("symbol", sym); err != nil {
		a.writeError(w, r, err)
		return
	}
	q := readQuery(r)
	iv := market.Interval1m
	if s := q.Get("interval"); s != "" {
		v, err := market.ParseInterval(s)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		iv = v
	}
	limit, err := parseLimit(&q, market.DefaultLimit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	now := a.now().UnixMilli()
	width := iv.Millis()
	var from, to int64
	var live bool // the default range, relative to now
	if c := q.Get("cursor"); c != "" {
		var cur candleCursor
		if err := decodeCursor(c, &cur); err != nil {
			a.writeError(w, r, err)
			return
		}
		if cur.Symbol != sym || cur.Interval != iv.String() {
			a.writeError(w, r, market.Invalid("cursor", "belongs to another symbol or interval"))
			return
		}
		from, to = cur.From, cur.To
	} else {
		fromSet, toSet := q.Has("from"), q.Has("to")
		live = !fromSet && !toSet
		to = now
		if toSet {
			if to, err = parseMillis(&q, "to"); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		from = to - int64(limit)*width + 1
		if fromSet {
			if from, err = parseMillis(&q, "from"); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		if from > to {
			a.writeError(w, r, market.Invalid("from", "must not be after to"))
			return
		}
	}

	if !live {
		// The answer depends only on which bucket starts lie in [from, to]
		// (starts are multiples of the width), so the range is narrowed to
		// the first and last of them: requests for "the last hour" made
		// within the same bucket share one cache entry and one query,
		// instead of a store query per request (their ms differ).
		from, to = alignUp(iv, from), iv.Start(to)
	}

	ttl, cc := a.cfg.LiveTTL, liveCache
	if !live {
		ttl, cc = a.rangeCache(sym, iv, to)
	}
	var key string
	if live {
		key = "candles:" + sym + ":" + iv.String() + ":live:" + strconv.Itoa(limit)
	} else {
		key = "candles:" + sym + ":" + iv.String() + ":" + strconv.FormatInt(from, 10) + ":" + strconv.FormatInt(to, 10) + ":" + strconv.Itoa(limit)
	}
	a.serveCached(w, r, key, ttl, cc, func(ctx context.Context) (any, error) {
		if live { // recompute the range at load time
			to = a.now().UnixMilli()
			from = to - int64(limit)*width + 1
		}
		return a.loadCandles(ctx, market.CandleQuery{Symbol: sym, Interval: iv, From: from, To: to, Limit: limit})
	})
}

// alignUp returns the first bucket start of iv at or after ts.
func alignUp(iv market.Interval, ts int64) int64 {
	s := iv.Start(ts)
	if s < ts && s <= math.MaxInt64-iv.Millis() {
		s += iv.Millis()
	}
	return s
}

func (a *API) loadCandles(ctx context.Context, q market.CandleQuery) (list[market.Candle], error) {
	limit := q.Limit
	q.Limit++ // one more tells whether there is a next page
	cs, err := a.readCandles(ctx, q)
	if err != nil {
		return list[market.Candle]{}, err
	}
	out := list[market.Candle]{Data: cs}
	if len(cs) > limit {
		out.Data = cs[:limit]
		out.NextCursor = encodeCursor(candleCursor{
			Symbol: q.Symbol, Interval: q.Interval.String(),
			From: cs[limit-1].Start + 1, To: q.To,
		})
	}
	if out.Data == nil {
		out.Data = []market.Candle{}
	}
	return out, nil
}

// readCandles returns the candles of q from memory when Deps.Recent covers
// them, else from the store with the live open candle in place of its
// stored bucket (the store lags).
func (a *API) readCandles(ctx context.Context, q market.CandleQuery) ([]market.Candle, error) {
	if a.d.Recent != nil {
		if cs, ok := a.d.Recent.RecentCandles(q); ok {
			a.m.candleReads[0].Inc()
			return cs, nil
		}
	}
	a.m.candleReads[1].Inc()
	cs, err := a.d.Candles.Candles(ctx, q)
	if err != nil {
		return nil, err
	}
	return a.overlayLive(q, cs), nil
}

// overlayLive puts over cs, the store's candles of q (ordered by start),
// what memory holds newer: when Deps.Recent answers, its candles of every
// bucket from the one ClosedGrace ago on — the persister may not have
// written their last ticks yet (it lingers up to --persist-linger at low
// rates, decision 0071), and memory folds the same ticks (decision
// 0048) — else the live open candle in place of its stored bucket. cs may
// come back longer than q.Limit; callers cut it.
func (a *API) overlayLive(q market.CandleQuery, cs []market.Candle) []market.Candle {
	if a.d.Recent != nil {
		from := max(q.From, q.Interval.Start(a.now().Add(-a.cfg.ClosedGrace).UnixMilli()))
		if from <= q.To {
			mq := market.CandleQuery{Symbol: q.Symbol, Interval: q.Interval, From: from, To: q.To, Limit: market.MaxLimit}
			if mem, ok := a.d.Recent.RecentCandles(mq); ok {
				i, _ := slices.BinarySearchFunc(cs, from, func(c market.Candle, start int64) int { return cmp.Compare(c.Start, start) })
				return append(cs[:i], mem...)
			}
		}
	}
	if open, ok := a.d.Market.OpenCandle(q.Symbol, q.Interval); ok && open.Start >= q.From && open.Start <= q.To {
		// The newest bucket: no stored candle is after it.
		if n := len(cs); n > 0 && cs[n-1].Start == open.Start {
			cs[n-1] = open
		} else if n == 0 || cs[n-1].Start < open.Start {
			cs = append(cs, open)
		}
	}
	return cs
}

// Cursors are opaque to clients: base64url of a small JSON object.
type candleCursor struct {
	Symbol   string `json:"s"`
	Interval string `json:"i"`
	From     int64  `json:"f"`
	To       int64  `json:"t"`
}

type symbolCursor struct {
	After string `json:"a"`
}

func encodeCursor(v any) string {
	b, _ := json.Marshal(v) // plain structs of strings and ints
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, v) != nil {
		return market.Invalid("cursor", "is not a cursor this API returned")
	}
	return nil
}

// parseLimit reads ?limit= (def when absent), 1..market.MaxLimit.
func parseLimit(q getter, def int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > market.MaxLimit {
		return 0, market.Invalid("limit", "must be an integer from 1 to %d", market.MaxLimit)
	}
	return n, nil
}

// parseMillis reads a Unix-millisecond query parameter.
func parseMillis(q getter, name string) (int64, error) {
	n, err := strconv.ParseInt(q.Get(name), 10, 64)
	if err != nil {
		return 0, market.Invalid(name, "must be a Unix time in milliseconds")
	}
	return n, nil
}
