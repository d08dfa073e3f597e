package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/findash/findash/internal/market"
)

// TradingView's UDF datafeed (docs/reference/http.md#tradingview-udf): the
// routes the Charting Library's UDF adapter calls, answered from the same
// candles as /api/v1/candles. Times are Unix seconds, as UDF wants.

// Bounds of the UDF routes (docs/security.md#udf).
const (
	// maxUDFBars bounds the bars of one /udf/history answer: a wider range
	// keeps its newest maxUDFBars bars (counted in
	// findash_udf_history_truncated_total) and the library asks for the
	// older ones next.
	maxUDFBars = 5000
	// maxUDFSearch bounds ?limit= of /udf/search (default defUDFSearch).
	maxUDFSearch = 100
	defUDFSearch = 30
	// maxUDFQuery bounds ?query= of /udf/search, in bytes.
	maxUDFQuery = 32
	// udfExchange is the exchange name findash gives its symbols; a
	// symbol may be asked as "FINDASH:BTC-USD".
	udfExchange = "FINDASH"
)

// udfResolutions maps UDF resolutions to candle intervals, in the order
// /udf/config lists them ("D" is accepted as "1D").
var udfResolutions = []struct {
	res string
	iv  market.Interval
}{
	{"1S", market.Interval1s}, {"1", market.Interval1m}, {"5", market.Interval5m},
	{"15", market.Interval15m}, {"60", market.Interval1h}, {"1D", market.Interval1d},
}

func udfSupported() []string {
	out := make([]string, len(udfResolutions))
	for i, r := range udfResolutions {
		out[i] = r.res
	}
	return out
}

// parseResolution maps a UDF resolution to its interval.
func parseResolution(s string) (market.Interval, error) {
	if s == "D" {
		s = "1D"
	}
	for _, r := range udfResolutions {
		if r.res == s {
			return r.iv, nil
		}
	}
	return 0, market.Invalid("resolution", "%q is not one of %s", truncateParam(s), strings.Join(udfSupported(), " "))
}

func truncateParam(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// udfErr is a UDF error answer: {"s":"error","errmsg":"…"}.
type udfErr struct {
	S      string `json:"s"`
	ErrMsg string `json:"errmsg"`
}

// writeUDFError answers a validation error (market.ErrInvalid: 400) or an
// unknown symbol (market.ErrNotFound: 404) in UDF's error shape, which the
// UDF adapter reads whatever the status; any other error (503, 500) takes
// writeError's usual shape.
func (a *API) writeUDFError(w http.ResponseWriter, r *http.Request, err error) {
	status := 0
	switch {
	case errors.Is(err, market.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, market.ErrNotFound):
		status = http.StatusNotFound
	default:
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, status, udfErr{S: "error", ErrMsg: err.Error()})
}

// udfConfig: GET /udf/config — what the datafeed supports.
func (a *API) udfConfig(w http.ResponseWriter, r *http.Request) {
	a.serveCached(w, r, "udf:config", a.cfg.ClosedTTL, a.closedCache, func(context.Context) (any, error) {
		type option struct {
			Value string `json:"value"`
			Name  string `json:"name"`
			Desc  string `json:"desc"`
		}
		type typ struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		}
		return struct {
			Resolutions     []string `json:"supported_resolutions"`
			Search          bool     `json:"supports_search"`
			GroupRequest    bool     `json:"supports_group_request"`
			Marks           bool     `json:"supports_marks"`
			TimescaleMarks  bool     `json:"supports_timescale_marks"`
			Time            bool     `json:"supports_time"`
			Exchanges       []option `json:"exchanges"`
			SymbolsTypes    []typ    `json:"symbols_types"`
			CurrencyCodes   []string `json:"currency_codes"`
			UnitsOfMeasures []string `json:"units_of_measure,omitempty"`
		}{
			Resolutions: udfSupported(), Search: true, Time: true,
			Exchanges:     []option{{Value: "", Name: "All exchanges", Desc: ""}, {Value: udfExchange, Name: udfExchange, Desc: "findash"}},
			SymbolsTypes:  []typ{{Name: "All types", Value: ""}},
			CurrencyCodes: []string{},
		}, nil
	})
}

// udfTime: GET /udf/time — the server's clock in Unix seconds, as plain text.
func (a *API) udfTime(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Cache-Control"] = noStore
	w.Write(strconv.AppendInt(nil, a.now().Unix(), 10))
}

// udfSymbolParam reads a symbol parameter, with an optional "FINDASH:" prefix.
func udfSymbolParam(q url.Values, name string) (string, error) {
	s := q.Get(name)
	if ex, sym, ok := strings.Cut(s, ":"); ok && strings.EqualFold(ex, udfExchange) {
		s = sym
	}
	if s == "" {
		return "", market.Invalid(name, "is required")
	}
	if err := market.CheckSymbol(name, s); err != nil {
		return "", err
	}
	return s, nil
}

// udfSymbolInfo is UDF's symbol information (the library's LibrarySymbolInfo).
type udfSymbolInfo struct {
	Name                string   `json:"name"`
	Ticker              string   `json:"ticker"`
	Description         string   `json:"description"`
	Type                string   `json:"type"`
	Session             string   `json:"session"`
	Timezone            string   `json:"timezone"`
	Exchange            string   `json:"exchange"`
	ListedExchange      string   `json:"listed_exchange"`
	Format              string   `json:"format"`
	MinMov              int      `json:"minmov"`
	PriceScale          int64    `json:"pricescale"`
	HasIntraday         bool     `json:"has_intraday"`
	HasSeconds          bool     `json:"has_seconds"`
	SecondsMultipliers  []string `json:"seconds_multipliers"`
	IntradayMultipliers []string `json:"intraday_multipliers"`
	HasDaily            bool     `json:"has_daily"`
	HasWeeklyAndMonthly bool     `json:"has_weekly_and_monthly"`
	Resolutions         []string `json:"supported_resolutions"`
	VolumePrecision     int      `json:"volume_precision"`
	DataStatus          string   `json:"data_status"`
}

// priceScale gives about seven significant digits at price (10^0..10^12):
// 43123.5 → 100, 1.08 → 1000000.
func priceScale(price float64) int64 {
	if !(price > 0) || math.IsInf(price, 0) {
		return 100
	}
	d := 6 - int(math.Floor(math.Log10(price)))
	d = max(0, min(d, 12))
	return int64(math.Pow10(d))
}

// knownSymbol returns the latest price of sym when the live state knows it,
// or of its newest stored daily candle (history imported or archived), 0
// for a registered symbol with neither (/udf/search lists it), and
// market.ErrNotFound otherwise.
func (a *API) knownSymbol(ctx context.Context, sym string) (float64, error) {
	if qs := a.d.Market.Quotes([]string{sym}); len(qs) == 1 {
		return qs[0].Price, nil
	}
	cs, err := a.d.Candles.Candles(ctx, market.CandleQuery{Symbol: sym, Interval: market.Interval1d, From: market.MinTS, To: market.MaxTS, Limit: 1, Newest: true})
	if err != nil {
		return 0, err
	}
	if len(cs) == 0 {
		if a.d.Registered != nil && a.d.Registered.Known(sym) {
			return 0, nil
		}
		return 0, fmt.Errorf("unknown_symbol %s: %w", sym, market.ErrNotFound)
	}
	return cs[0].Close, nil
}

// udfSymbols: GET /udf/symbols?symbol= — one symbol's information.
func (a *API) udfSymbols(w http.ResponseWriter, r *http.Request) {
	sym, err := udfSymbolParam(r.URL.Query(), "symbol")
	if err != nil {
		a.writeUDFError(w, r, err)
		return
	}
	price, err := a.knownSymbol(r.Context(), sym)
	if err != nil {
		a.writeUDFError(w, r, err)
		return
	}
	a.serveCached(w, r, "udf:symbol:"+sym, a.cfg.LiveTTL, liveCache, func(context.Context) (any, error) {
		return udfSymbolInfo{
			Name: sym, Ticker: sym, Description: sym, Type: "crypto", Session: "24x7", Timezone: "Etc/UTC",
			Exchange: udfExchange, ListedExchange: udfExchange, Format: "price", MinMov: 1, PriceScale: priceScale(price),
			HasIntraday: true, HasSeconds: true, SecondsMultipliers: []string{"1"},
			IntradayMultipliers: []string{"1", "5", "15", "60"}, HasDaily: true,
			Resolutions: udfSupported(), VolumePrecision: 8, DataStatus: "streaming",
		}, nil
	})
}

// SymbolSearcher lists registered symbols whether or not they have ticked
// since the instance started (satisfied by *symbol.Registry, from memory,
// bounded by its cap).
type SymbolSearcher interface {
	// Search returns the registered names for which match is true,
	// sorted, at most limit.
	Search(match func(name string) bool, limit int) []string
	// Known reports whether name is registered.
	Known(name string) bool
}

// udfSearchResult is one entry of /udf/search.
type udfSearchResult struct {
	Symbol      string `json:"symbol"`
	FullName    string `json:"full_name"`
	Description string `json:"description"`
	Exchange    string `json:"exchange"`
	Ticker      string `json:"ticker"`
	Type        string `json:"type"`
}

// udfSearch: GET /udf/search?query=&type=&exchange=&limit= — the known
// symbols (live, or registered: imported history) containing query
// (case-insensitive), in symbol order.
func (a *API) udfSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := q.Get("query")
	if len(query) > maxUDFQuery {
		a.writeUDFError(w, r, market.Invalid("query", "at most %d bytes", maxUDFQuery))
		return
	}
	limit := defUDFSearch
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxUDFSearch {
			a.writeUDFError(w, r, market.Invalid("limit", "must be an integer from 1 to %d", maxUDFSearch))
			return
		}
		limit = n
	}
	if ex := q.Get("exchange"); ex != "" && !strings.EqualFold(ex, udfExchange) {
		a.writeJSON(w, r, http.StatusOK, []udfSearchResult{}) // no symbol is on another exchange
		return
	}
	needle := strings.ToUpper(query)
	a.serveCached(w, r, "udf:search:"+strconv.Itoa(limit)+":"+needle, a.cfg.LiveTTL, liveCache, func(context.Context) (any, error) {
		return a.searchSymbols(needle, limit), nil
	})
}

// searchSymbols returns the first limit symbols, by name, containing needle
// among the live state's and the registry's: the first limit of each hold
// the first limit of both.
func (a *API) searchSymbols(needle string, limit int) []udfSearchResult {
	var names []string
	after := ""
	for len(names) < limit {
		page := a.d.Market.QuotesAfter(after, market.MaxLimit)
		for _, qt := range page {
			if strings.Contains(qt.Symbol, needle) {
				if names = append(names, qt.Symbol); len(names) == limit {
					break
				}
			}
		}
		if len(page) < market.MaxLimit {
			break
		}
		after = page[len(page)-1].Symbol
	}
	if a.d.Registered != nil {
		reg := a.d.Registered.Search(func(n string) bool { return strings.Contains(n, needle) }, limit)
		names = slices.Compact(slices.Sorted(slices.Values(append(names, reg...))))
		names = names[:min(limit, len(names))]
	}
	out := make([]udfSearchResult, len(names))
	for i, s := range names {
		out[i] = udfSearchResult{Symbol: s, FullName: udfExchange + ":" + s, Description: s, Exchange: udfExchange, Ticker: s, Type: "crypto"}
	}
	return out
}

// udfBars is a /udf/history answer: s "ok" with the bars, or "no_data"
// with nextTime (the newest bar before the range) when there is one.
type udfBars struct {
	S        string    `json:"s"`
	T        []int64   `json:"t,omitempty"`
	O        []float64 `json:"o,omitempty"`
	H        []float64 `json:"h,omitempty"`
	L        []float64 `json:"l,omitempty"`
	C        []float64 `json:"c,omitempty"`
	V        []float64 `json:"v,omitempty"`
	NextTime *int64    `json:"nextTime,omitempty"`
}

// maxUDFSeconds is market.MaxTS in seconds: later times are refused.
const maxUDFSeconds = market.MaxTS / 1000

func parseSeconds(q url.Values, name string) (int64, error) {
	n, err := strconv.ParseInt(q.Get(name), 10, 64)
	if err != nil || n < 0 || n > maxUDFSeconds {
		return 0, market.Invalid(name, "must be a Unix time in seconds from 0 to %d", maxUDFSeconds)
	}
	return n, nil
}

// udfHistory: GET /udf/history?symbol=&resolution=&from=&to=&countback= —
// the bars with time in [from, to) (Unix seconds), or with countback the
// countback bars before to (from is then ignored), oldest first.
func (a *API) udfHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sym, err := udfSymbolParam(q, "symbol")
	if err != nil {
		a.writeUDFError(w, r, err)
		return
	}
	iv, err := parseResolution(q.Get("resolution"))
	if err != nil {
		a.writeUDFError(w, r, err)
		return
	}
	to, err := parseSeconds(q, "to")
	if err != nil {
		a.writeUDFError(w, r, err)
		return
	}
	countback := 0
	if s := q.Get("countback"); s != "" {
		if countback, err = strconv.Atoi(s); err != nil || countback < 1 || countback > maxUDFBars {
			a.writeUDFError(w, r, market.Invalid("countback", "must be an integer from 1 to %d", maxUDFBars))
			return
		}
	}
	var from int64
	if countback == 0 {
		if from, err = parseSeconds(q, "from"); err != nil {
			a.writeUDFError(w, r, err)
			return
		}
		if from >= to {
			a.writeUDFError(w, r, market.Invalid("from", "must be before to"))
			return
		}
	}
	// [from, to) in ms, narrowed to the bucket starts it holds (as
	// /candles does), so requests within one bucket share a cache entry.
	toMs := iv.Start(to*1000 - 1)
	fromMs := market.MinTS
	limit := maxUDFBars
	if countback > 0 {
		limit = countback
	} else {
		fromMs = alignUp(iv, max(from*1000, market.MinTS))
	}
	ttl, cc := a.rangeCache(sym, iv, toMs)
	key := "udf:history:" + sym + ":" + iv.String() + ":" + strconv.FormatInt(fromMs, 10) + ":" + strconv.FormatInt(toMs, 10) + ":" + strconv.Itoa(limit)
	a.serveCached(w, r, key, ttl, cc, func(ctx context.Context) (any, error) {
		return a.loadBars(ctx, market.CandleQuery{Symbol: sym, Interval: iv, From: fromMs, To: toMs, Limit: limit, Newest: true}, countback == 0)
	})
}

// loadBars answers /udf/history for q (Newest): the stored candles with
// memory's newest over theirs (overlayLive), no_data with nextTime when the range is
// empty. countTruncated counts an answer cut at q.Limit.
func (a *API) loadBars(ctx context.Context, q market.CandleQuery, countTruncated bool) (udfBars, error) {
	if q.From > q.To {
		return udfBars{S: "no_data"}, nil
	}
	limit := q.Limit
	q.Limit++ // one more tells whether the range held more
	cs, err := a.d.Candles.Candles(ctx, q)
	if err != nil {
		return udfBars{}, err
	}
	cs = a.overlayLive(q, cs)
	if len(cs) > limit {
		cs = cs[len(cs)-limit:] // keep the newest
		if countTruncated {
			a.m.udfTruncated.Inc()
		}
	}
	if len(cs) == 0 {
		out := udfBars{S: "no_data"}
		if q.From > market.MinTS {
			prev, err := a.d.Candles.Candles(ctx, market.CandleQuery{Symbol: q.Symbol, Interval: q.Interval, From: market.MinTS, To: q.From - 1, Limit: 1, Newest: true})
			if err != nil {
				return udfBars{}, err
			}
			if len(prev) == 1 {
				t := prev[0].Start / 1000
				out.NextTime = &t
			}
		}
		return out, nil
	}
	out := udfBars{S: "ok", T: make([]int64, len(cs)), O: make([]float64, len(cs)), H: make([]float64, len(cs)),
		L: make([]float64, len(cs)), C: make([]float64, len(cs)), V: make([]float64, len(cs))}
	for i, c := range cs {
		out.T[i], out.O[i], out.H[i], out.L[i], out.C[i], out.V[i] = c.Start/1000, c.Open, c.High, c.Low, c.Close, c.Volume
	}
	return out, nil
}

// rangeCache returns how long a candle range of sym at iv ending with the
// bucket starting at to may be cached, and its Cache-Control: ClosedTTL
// when every bucket of it ended ClosedGrace ago and is older than the
// symbol's open bucket (only a late tick or an import can change it),
// LiveTTL otherwise.
func (a *API) rangeCache(sym string, iv market.Interval, to int64) (time.Duration, []string) {
	now := a.now().UnixMilli()
	open, hasOpen := a.d.Market.OpenCandle(sym, iv)
	if iv.Start(to)+iv.Millis() <= now-a.cfg.ClosedGrace.Milliseconds() && (!hasOpen || to < open.Start) {
		return a.cfg.ClosedTTL, a.closedCache
	}
	return a.cfg.LiveTTL, liveCache
}
