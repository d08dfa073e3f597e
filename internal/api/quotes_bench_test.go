package api_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/market"
)

// BenchmarkQuotesOfRandomLists serves /api/v1/quotes?symbols= as the read
// mix of `findash bench api` asks it: lists of 1–5 of 20 symbols, drawn at
// random, so that (as with real dashboards) almost no two requests ask the
// same list; the default LiveTTL.
func BenchmarkQuotesOfRandomLists(b *testing.B) {
	f := newFixture(b, func(c *api.Config, _ *api.Deps) { c.ReadLimit = api.Limit{Rate: -1} })
	syms := make([]string, 20)
	ticks := make([]market.Tick, 0, len(syms))
	for i := range syms {
		syms[i] = fmt.Sprintf("SYM%02d", i)
		ticks = append(ticks, market.Tick{Symbol: syms[i], TS: t0 + 1000, Price: 100 + float64(i), Size: 1, Seq: uint64(1<<20 + i)})
	}
	var u market.Update
	f.state.Apply(ticks, &u)
	// The lists are drawn inside the loop (the same cost before and after
	// a change): a pool of prepared ones would be asked again and again
	// and come from the cache, unlike the 3.2 million lists of real users.
	rng := rand.New(rand.NewPCG(1, 2))
	h := f.api.Handler()
	var sb strings.Builder
	b.ReportAllocs()
	for b.Loop() {
		sb.Reset()
		sb.WriteString("/api/v1/quotes?symbols=")
		for j := range 1 + rng.IntN(5) {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(syms[rng.IntN(len(syms))])
		}
		w := discardWriter{h: http.Header{}}
		h.ServeHTTP(&w, httptest.NewRequest("GET", sb.String(), nil))
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}
