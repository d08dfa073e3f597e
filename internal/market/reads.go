package market

import (
	"container/heap"
	"slices"
)

// The read side of State: quotes, open candles and movers. Reads over every
// symbol walk the sorted list of names rather than sorting quotes, and
// Movers keeps only the n best of each side, so that /symbols and /movers
// stay fast with the registry's full count of symbols.

// Quote returns the latest quote of symbol.
func (s *State) Quote(symbol string) (Quote, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss := s.syms[symbol]
	if ss == nil || ss.quote.Seq == 0 && ss.quote.Price == 0 {
		return Quote{}, false
	}
	return ss.quote, true
}

// rlockSorted takes the read lock with s.names in order, sorting them
// first (under the write lock) when a symbol was added since.
func (s *State) rlockSorted() {
	for {
		s.mu.RLock()
		if s.sorted {
			return
		}
		s.mu.RUnlock()
		s.mu.Lock()
		if !s.sorted {
			slices.Sort(s.names)
			s.sorted = true
		}
		s.mu.Unlock()
	}
}

// Quotes returns the quotes of the given symbols that are known, in the order
// asked; with no symbols, every known quote sorted by symbol.
func (s *State) Quotes(symbols []string) []Quote {
	if len(symbols) == 0 {
		return s.QuotesAfter("", -1)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Quote, 0, len(symbols))
	for _, sym := range symbols {
		if ss := s.syms[sym]; ss != nil && ss.quote.Price != 0 {
			out = append(out, ss.quote)
		}
	}
	return out
}

// QuotesAfter returns up to n known quotes (every one, for n < 0) of the
// symbols sorted after after ("" for the first), in symbol order: a page of
// /api/v1/symbols, in time proportional to the page, not to the symbols.
func (s *State) QuotesAfter(after string, n int) []Quote {
	s.rlockSorted()
	defer s.mu.RUnlock()
	i, found := slices.BinarySearch(s.names, after)
	if found {
		i++
	}
	size := len(s.names) - i
	if n >= 0 {
		size = min(size, n)
	}
	out := make([]Quote, 0, size)
	for _, sym := range s.names[i:] {
		if len(out) == n {
			break
		}
		if q := &s.syms[sym].quote; q.Price != 0 {
			out = append(out, *q)
		}
	}
	return out
}

// OpenCandle returns the newest candle of symbol at interval iv.
func (s *State) OpenCandle(symbol string, iv Interval) (Candle, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss := s.syms[symbol]
	if ss == nil || ss.hot == nil || ss.hot.open[iv].Count == 0 {
		return Candle{}, false
	}
	return ss.hot.open[iv], true
}

// Movers returns up to n symbols with the highest change_pct_24h (gainers,
// descending; equal changes by symbol) and up to n with the lowest (losers,
// ascending; equal changes by symbol, descending). A symbol with a
// non-positive change is never a gainer, nor a positive one a loser. It
// takes O(symbols · log n).
func (s *State) Movers(n int) (gainers, losers []Quote) {
	if n <= 0 {
		return nil, nil
	}
	gain := &bestQuotes{n: n, better: func(a, b *Quote) bool {
		return a.ChangePct24h > b.ChangePct24h || a.ChangePct24h == b.ChangePct24h && a.Symbol < b.Symbol
	}}
	lose := &bestQuotes{n: n, better: func(a, b *Quote) bool {
		return a.ChangePct24h < b.ChangePct24h || a.ChangePct24h == b.ChangePct24h && a.Symbol > b.Symbol
	}}
	s.mu.RLock()
	for _, ss := range s.syms {
		switch q := &ss.quote; {
		case q.Price == 0:
		case q.ChangePct24h > 0:
			gain.offer(q)
		case q.ChangePct24h < 0:
			lose.offer(q)
		}
	}
	s.mu.RUnlock()
	return gain.sorted(), lose.sorted()
}

// bestQuotes keeps the n best quotes offered, as a heap whose root is the
// worst of them.
type bestQuotes struct {
	n      int
	q      []Quote
	better func(a, b *Quote) bool
}

func (b *bestQuotes) Len() int           { return len(b.q) }
func (b *bestQuotes) Less(i, j int) bool { return b.better(&b.q[j], &b.q[i]) } // worst at the root
func (b *bestQuotes) Swap(i, j int)      { b.q[i], b.q[j] = b.q[j], b.q[i] }
func (b *bestQuotes) Push(x any)         { b.q = append(b.q, x.(Quote)) }
func (b *bestQuotes) Pop() any {
	q := b.q[len(b.q)-1]
	b.q = b.q[:len(b.q)-1]
	return q
}

func (b *bestQuotes) offer(q *Quote) {
	switch {
	case len(b.q) < b.n:
		heap.Push(b, *q)
	case b.better(q, &b.q[0]):
		b.q[0] = *q
		heap.Fix(b, 0)
	}
}

// sorted returns the kept quotes, best first (nil when none).
func (b *bestQuotes) sorted() []Quote {
	if len(b.q) == 0 {
		return nil
	}
	slices.SortFunc(b.q, func(x, y Quote) int {
		switch {
		case b.better(&x, &y):
			return -1
		case b.better(&y, &x):
			return 1
		}
		return 0
	})
	return b.q
}
