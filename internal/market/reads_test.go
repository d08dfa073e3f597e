package market

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

// randomState holds n symbols in random order with changes from a small
// set, so that ties are common.
func randomState(t *testing.T, n int, seed uint64) *State {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	s := NewState()
	for _, i := range r.Perm(n) {
		sym := fmt.Sprintf("S%04d", i)
		open := 100.0
		last := open * (1 + float64(r.IntN(7)-3)/100) // -3% … +3%
		var u Update
		s.Apply([]Tick{
			{Symbol: sym, TS: day0, Price: open, Size: 1, Seq: uint64(2*i + 1)},
			{Symbol: sym, TS: day0 + 1000, Price: last, Size: 1, Seq: uint64(2*i + 2)},
		}, &u)
	}
	return s
}

// bruteMovers is Movers as it was: every quote sorted.
func bruteMovers(s *State, n int) (gainers, losers []Quote) {
	all := s.Quotes(nil)
	slices.SortStableFunc(all, func(a, b Quote) int { return cmp.Compare(b.ChangePct24h, a.ChangePct24h) })
	for _, q := range all {
		if len(gainers) == n || q.ChangePct24h <= 0 {
			break
		}
		gainers = append(gainers, q)
	}
	for i := len(all) - 1; i >= 0 && len(losers) < n; i-- {
		if all[i].ChangePct24h >= 0 {
			break
		}
		losers = append(losers, all[i])
	}
	return gainers, losers
}

func TestMoversMatchesFullSort(t *testing.T) {
	for seed := range uint64(5) {
		s := randomState(t, 300, seed)
		for _, n := range []int{1, 2, 10, 50, 299, 1000} {
			g, l := s.Movers(n)
			wg, wl := bruteMovers(s, n)
			if diff := gocmp.Diff(wg, g); diff != "" {
				t.Fatalf("seed %d: Movers(%d) gainers (-want +got):\n%s", seed, n, diff)
			}
			if diff := gocmp.Diff(wl, l); diff != "" {
				t.Fatalf("seed %d: Movers(%d) losers (-want +got):\n%s", seed, n, diff)
			}
		}
	}
}

func TestQuotesAfterPages(t *testing.T) {
	s := randomState(t, 250, 7)
	all := s.Quotes(nil)
	if len(all) != 250 || !slices.IsSortedFunc(all, func(a, b Quote) int { return cmp.Compare(a.Symbol, b.Symbol) }) {
		t.Fatalf("Quotes(nil): %d quotes, sorted %v", len(all), slices.IsSortedFunc(all, func(a, b Quote) int { return cmp.Compare(a.Symbol, b.Symbol) }))
	}
	var paged []Quote
	for after := ""; ; {
		page := s.QuotesAfter(after, 37)
		paged = append(paged, page...)
		if len(page) < 37 {
			break
		}
		after = page[len(page)-1].Symbol
	}
	if diff := gocmp.Diff(all, paged); diff != "" {
		t.Errorf("pages of 37 differ from Quotes(nil) (-want +got):\n%s", diff)
	}
	if got := s.QuotesAfter("S0100X", 1); len(got) != 1 || got[0].Symbol != "S0101" {
		t.Errorf("QuotesAfter(between two symbols) = %v, want S0101", got)
	}
	// A symbol added later takes its place in the order.
	var u Update
	s.Apply([]Tick{{Symbol: "S0100A", TS: day0, Price: 5, Size: 1, Seq: 10_000}}, &u)
	if got := s.QuotesAfter("S0100", 1); len(got) != 1 || got[0].Symbol != "S0100A" {
		t.Errorf("QuotesAfter after a new symbol = %v, want S0100A", got)
	}
}
