package api

import (
	"net/http"
	"net/url"
	"strings"
)

// Bounds of the query strings readQuery scans in place; longer ones, or
// with more parameters, are parsed by net/url as before. They keep a
// lookup's scan short (a route reads up to six parameters) and within
// net/url's own limit on parameters (GODEBUG urlmaxqueryparams, 10,000 by
// default, past which url.URL.Query returns none).
const (
	quickQueryBytes  = 1024
	quickQueryParams = 8
)

// query reads a request's query parameters as url.URL.Query would, without
// building its url.Values map when the raw query needs no unescaping: the
// map was most of what the mix's routes allocate on a cache hit (even an
// empty query made one) and url.ParseQuery ~15 % of a cached candle
// request's CPU (BenchmarkCandlesHit).
type query struct {
	raw string     // the raw query, when it has nothing to unescape
	v   url.Values // else the parsed query
}

// readQuery returns r's query parameters. A raw query with '%' or '+' (to
// unescape), ';' (which net/url rejects pair by pair) or beyond the quick
// bounds is parsed by net/url; any other one reads the same in place,
// since unescaping leaves it as it is and no pair of it fails.
func readQuery(r *http.Request) query {
	raw := r.URL.RawQuery
	if len(raw) > quickQueryBytes || strings.ContainsAny(raw, "%+;") || strings.Count(raw, "&") >= quickQueryParams {
		return query{v: r.URL.Query()}
	}
	return query{raw: raw}
}

// lookup returns the first value of key and whether the query has it.
func (q *query) lookup(key string) (string, bool) {
	if q.v != nil {
		if vs := q.v[key]; len(vs) > 0 {
			return vs[0], true
		}
		return "", false
	}
	for s := q.raw; s != ""; {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if k, v, _ := strings.Cut(pair, "="); k == key && pair != "" {
			return v, true
		}
	}
	return "", false
}

// Get returns the first value of key, "" when absent (url.Values.Get).
func (q *query) Get(key string) string {
	v, _ := q.lookup(key)
	return v
}

// Has reports whether the query has key (url.Values.Has).
func (q *query) Has(key string) bool {
	_, ok := q.lookup(key)
	return ok
}

// getter is what parseLimit and parseMillis read: url.Values or *query.
type getter interface{ Get(key string) string }
