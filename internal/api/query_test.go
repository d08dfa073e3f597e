package api

import (
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestQueryReadsAsNetURL: readQuery's Get and Has answer as url.URL.Query's
// for the mix's queries, escapes, semicolons, repeated and empty keys,
// pairs without '=', long and many-parameter queries, and random strings
// over the characters that matter.
func TestQueryReadsAsNetURL(t *testing.T) {
	check := func(raw string) { t.Helper(); checkQuery(t, raw) }
	for _, raw := range []string{
		"", "interval=1m&limit=500", "interval=1m&from=1&to=2", "limit=10", "symbols=B0000,B0001",
		"limit", "limit=", "=x", "&&limit=3&", "limit=1&limit=2", "a%20b=1", "a+b=2", "a=1;limit=3",
		"limit=3&a=1;b", "limit=%zz&limit=4", "limit=%zz", "a=" + strings.Repeat("x", 2000) + "&limit=5",
		strings.Repeat("a=1&", 20) + "limit=6", "cursor=eyJzIjoi&interval=1s",
	} {
		check(raw)
	}
	r := rand.New(rand.NewPCG(3, 4))
	const alphabet = "alimtfroc=&;%+2 0x"
	for range 200_000 {
		var b strings.Builder
		for range r.IntN(24) {
			if r.IntN(4) == 0 {
				b.WriteString(queryKeys[r.IntN(len(queryKeys)-2)])
				continue
			}
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		check(b.String())
	}
}

// queryKeys are the keys checkQuery asks for: the mix's, and odd ones.
var queryKeys = []string{"interval", "limit", "from", "to", "cursor", "symbols", "a", "", "a b"}

// checkQuery fails t when readQuery's Get or Has of a queryKeys key
// answers other than url.URL.Query's for the raw query raw.
func checkQuery(t *testing.T, raw string) {
	t.Helper()
	r := httptest.NewRequest("GET", "/x", nil)
	r.URL.RawQuery = raw
	want := r.URL.Query()
	q := readQuery(r)
	for _, k := range queryKeys {
		if got, w := q.Get(k), want.Get(k); got != w {
			t.Fatalf("?%s Get(%q) = %q, net/url %q", raw, k, got, w)
		}
		if got, w := q.Has(k), want.Has(k); got != w {
			t.Fatalf("?%s Has(%q) = %v, net/url %v", raw, k, got, w)
		}
	}
}

// FuzzQueryReadsAsNetURL: any raw query a client sends reads the same in
// place as through net/url.
func FuzzQueryReadsAsNetURL(f *testing.F) {
	for _, seed := range []string{"", "interval=1m&limit=500", "a+b=2", "a=1;limit=3", "limit=%zz&limit=4", "&&limit=3&", "=x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) { checkQuery(t, raw) })
}

// TestQueryAllocatesNothing: a mix's query read in place makes no map.
func TestQueryAllocatesNothing(t *testing.T) {
	r := httptest.NewRequest("GET", "/api/v1/candles/B0000?interval=1m&limit=500", nil)
	if n := testing.AllocsPerRun(100, func() {
		q := readQuery(r)
		if q.Get("limit") != "500" || q.Has("from") {
			t.Fatal("wrong values")
		}
	}); n != 0 {
		t.Fatalf("%v allocations, want 0", n)
	}
}
