package market

import (
	"cmp"
	"slices"
	"sync"
)

// State is the live market: per symbol the latest quote with 24 h statistics
// and the newest candle of every interval. It is a pure projection of the
// ticks applied to it (in any order), safe for concurrent use: Apply takes a
// write lock per batch, readers a read lock.
type State struct {
	mu   sync.RWMutex
	syms map[string]*symbolState
}

type symbolState struct {
	stats Stats
	quote Quote
	open  [NumIntervals]Candle // newest bucket per interval
}

// NewState returns an empty State.
func NewState() *State { return &State{syms: make(map[string]*symbolState)} }

// Update is what one Apply changed. Its slices are reused by the next Apply
// that is given the same Update; copy what must outlive it.
type Update struct {
	Quotes  []Quote  // changed quotes, one per symbol
	Candles []Candle // changed newest candles, one per (symbol, interval)
}

// Reset empties u, keeping its memory.
func (u *Update) Reset() {
	u.Quotes = u.Quotes[:0]
	u.Candles = u.Candles[:0]
}

// Apply folds ticks (each carrying its Seq) into the state and appends what
// changed to u. It is fastest when the ticks share one symbol, as the event
// log's messages do.
func (s *State) Apply(ticks []Tick, u *Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ss *symbolState
	var changed [NumIntervals]bool
	quoteChanged := false
	flush := func() {
		if ss == nil {
			return
		}
		for i := range changed {
			if changed[i] {
				u.Candles = append(u.Candles, ss.open[i])
				changed[i] = false
			}
		}
		if quoteChanged {
			ss.stats.Quote(ss.quote.Symbol, &ss.quote)
			u.Quotes = append(u.Quotes, ss.quote)
			quoteChanged = false
		}
	}
	for i := range ticks {
		t := &ticks[i]
		if ss == nil || ss.quote.Symbol != t.Symbol {
			flush()
			ss = s.symbol(t.Symbol)
		}
		if ss.stats.Add(t) {
			quoteChanged = true
		}
		for _, iv := range Intervals {
			c := &ss.open[iv]
			start := iv.Start(t.TS)
			switch {
			case c.Count == 0 || start > c.Start:
				*c = NewCandle(iv, t)
			case start == c.Start:
				c.Apply(t)
			default:
				continue // a late tick for an older bucket: the store has it
			}
			changed[iv] = true
		}
	}
	flush()
}

func (s *State) symbol(sym string) *symbolState {
	ss := s.syms[sym]
	if ss == nil {
		ss = &symbolState{}
		ss.quote.Symbol = sym
		for _, iv := range Intervals {
			ss.open[iv].Interval = iv
		}
		s.syms[sym] = ss
	}
	return ss
}

// Restore loads stored candles on start-up, before Apply: the 1-minute
// candles of the last 24 h and the newest candle of each interval.
func (s *State) Restore(candles []Candle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range candles {
		ss := s.symbol(c.Symbol)
		if c.Interval == Interval1m {
			ss.stats.LoadMinute(c)
		}
		if o := &ss.open[c.Interval]; o.Count == 0 || c.Start >= o.Start {
			*o = c
		}
	}
	for _, ss := range s.syms {
		ss.stats.Quote(ss.quote.Symbol, &ss.quote)
	}
}

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

// Quotes returns the quotes of the given symbols that are known, in the order
// asked; with no symbols, every known quote sorted by symbol.
func (s *State) Quotes(symbols []string) []Quote {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(symbols) == 0 {
		out := make([]Quote, 0, len(s.syms))
		for _, ss := range s.syms {
			if ss.quote.Price != 0 {
				out = append(out, ss.quote)
			}
		}
		slices.SortFunc(out, func(a, b Quote) int { return cmp.Compare(a.Symbol, b.Symbol) })
		return out
	}
	out := make([]Quote, 0, len(symbols))
	for _, sym := range symbols {
		if ss := s.syms[sym]; ss != nil && ss.quote.Price != 0 {
			out = append(out, ss.quote)
		}
	}
	return out
}

// OpenCandle returns the newest candle of symbol at interval iv.
func (s *State) OpenCandle(symbol string, iv Interval) (Candle, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss := s.syms[symbol]
	if ss == nil || ss.open[iv].Count == 0 {
		return Candle{}, false
	}
	return ss.open[iv], true
}

// Movers returns up to n symbols with the highest change_pct_24h (gainers,
// descending) and up to n with the lowest (losers, ascending). A symbol with
// a non-positive change is never a gainer, nor a positive one a loser.
func (s *State) Movers(n int) (gainers, losers []Quote) {
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
