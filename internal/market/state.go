package market

import (
	"math"
	"sync"
	"time"
)

// State is the live market: per symbol the latest quote with 24 h statistics
// and the newest candle of every interval. It is a pure projection of the
// ticks applied to it (in any order), safe for concurrent use: Apply takes a
// write lock per batch, readers a read lock.
//
// Memory. A symbol that has ticked holds its 1-minute candles of the last
// 24 h (up to 1,440 of ~120 bytes) and its open candles. Evict frees that
// for symbols idle longer than a period (no tick arrived), keeping only the
// quote (~250 bytes with its map entry): readers see the same quote, and
// OpenCandle reports nothing, so candle reads come from the store. The
// next tick revives the symbol; see Evict for when that is exact.
type State struct {
	now  func() time.Time
	mu   sync.RWMutex
	syms map[string]*symbolState
	hot  int // symbols with live statistics (not evicted)
	// names lists every symbol; sorted says it is in order. A new symbol
	// is appended and the list sorted again on the next read that needs
	// the order: new symbols are rare (the registry caps them).
	names  []string
	sorted bool

	// Recent candles (recent.go): each ring holds at most recentCap, all
	// of them together room for at most recentMax; recentLen is the room
	// they hold. stopped lists the symbols whose rings are off.
	recentCap, recentMax, recentLen int
	stopped                         map[string]struct{}
	// notFresh lists the symbols forgotten or imported: created again,
	// they are not fresh. Past maxNotFresh names no symbol is (noFresh).
	notFresh map[string]struct{}
	noFresh  bool
}

type symbolState struct {
	// fresh: the store held no candle of the symbol when it was created
	// (a live tick's, not restored, never forgotten or imported): its
	// recent candles hold everything there is (recent.go).
	fresh   bool
	quote   Quote
	hot     *hotState // nil once evicted: only the quote is kept
	arrived int64     // wall clock of the last Apply that touched it, Unix ns
}

// hotState is what an active symbol holds beyond its quote.
type hotState struct {
	stats  Stats
	open   [NumIntervals]Candle        // newest bucket per interval
	recent [NumIntervals]recentCandles // closed candles before open (recent.go)
}

// StateConfig tunes a State.
type StateConfig struct {
	// Now is the clock that stamps each symbol's last tick arrival, for
	// Evict; nil means time.Now.
	Now func() time.Time
	// RecentCandles is how many closed candles an active symbol keeps of
	// each interval before its open one, for RecentCandles (default
	// DefaultRecentCandles; negative: none).
	RecentCandles int
	// MaxRecentCandles bounds those candles over all symbols together
	// (default DefaultMaxRecentCandles): past it a ring that is full drops
	// its oldest candle rather than grow.
	MaxRecentCandles int
}

// DefaultRecentCandles and DefaultMaxRecentCandles are StateConfig's
// defaults: 500 candles cover the longest chart of the dashboard; 2 million
// candles are ~230 MB (~115 bytes each), a full ring of every interval for
// ~660 symbols, and for every one of 10,000 symbols the rings of the
// finest intervals, which fill first.
const (
	DefaultRecentCandles    = 500
	DefaultMaxRecentCandles = 2_000_000
)

// NewState returns an empty State on the wall clock.
func NewState() *State { return NewStateWith(StateConfig{}) }

// NewStateWith returns an empty State tuned by cfg.
func NewStateWith(cfg StateConfig) *State {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RecentCandles == 0 {
		cfg.RecentCandles = DefaultRecentCandles
	}
	if cfg.MaxRecentCandles <= 0 {
		cfg.MaxRecentCandles = DefaultMaxRecentCandles
	}
	return &State{now: cfg.Now, syms: make(map[string]*symbolState),
		recentCap: max(cfg.RecentCandles, 0), recentMax: cfg.MaxRecentCandles}
}

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
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	var ss *symbolState
	var changed [NumIntervals]bool
	quoteChanged := false
	flush := func() {
		if ss == nil || ss.hot == nil {
			return
		}
		for i := range changed {
			if changed[i] {
				u.Candles = append(u.Candles, ss.hot.open[i])
				changed[i] = false
			}
		}
		if quoteChanged {
			ss.hot.stats.Quote(ss.quote.Symbol, &ss.quote)
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
		ss.arrived = now
		if ss.hot == nil {
			if t.TS <= ss.quote.TS {
				continue // a late tick for an evicted symbol: the store has it
			}
			s.revive(ss)
		}
		h := ss.hot
		if h.stats.Add(t) {
			quoteChanged = true
		}
		for _, iv := range Intervals {
			c := &h.open[iv]
			start := iv.Start(t.TS)
			switch {
			case c.Count == 0:
				if r := &h.recent[iv]; r.from != math.MaxInt64 {
					// The ring covers from its first bucket, or all time
					// when the store has nothing older.
					r.from = max(start, r.floor)
					if ss.fresh {
						r.from = max(math.MinInt64, r.floor)
					}
				}
				*c = NewCandle(iv, t)
			case start > c.Start:
				s.closeOpen(&h.recent[iv], c)
				*c = NewCandle(iv, t)
			case start == c.Start:
				c.Apply(t)
			default:
				// A late tick for an older bucket: into the ring when it
				// covers the bucket; the store has it either way.
				s.applyLate(&h.recent[iv], iv, t, start)
				continue
			}
			changed[iv] = true
		}
	}
	flush()
}

// symbol returns sym's state, creating it (hot) if needed. Caller holds mu.
func (s *State) symbol(sym string) *symbolState {
	ss := s.syms[sym]
	if ss == nil {
		ss = &symbolState{}
		_, seen := s.notFresh[sym]
		ss.fresh = !seen && !s.noFresh
		ss.quote.Symbol = sym
		s.revive(ss)
		s.syms[sym] = ss
		s.names = append(s.names, sym)
		s.sorted = false
	}
	return ss
}

// revive gives ss (evicted, or new) empty live statistics. Caller holds mu.
func (s *State) revive(ss *symbolState) {
	ss.hot = &hotState{}
	for _, iv := range Intervals {
		ss.hot.open[iv].Interval = iv
	}
	if _, off := s.stopped[ss.quote.Symbol]; off || s.recentCap == 0 {
		s.stopRings(ss.hot)
	}
	s.hot++
}

// Evict frees the live statistics and open candles of every symbol no tick
// has arrived for since idleSince (by the State's clock), keeping its
// quote, and returns how many it evicted.
//
// A later tick revives the symbol with fresh statistics. That is exact when
// the tick is dated at least 24 h after the symbol's last one (its old
// minutes and candles would all have left the window and the buckets):
// with an idle period of 24 h plus the tolerated clock skew, every tick
// dated near its arrival qualifies. A tick dated before the kept quote is
// left to the store; one dated less than 24 h after it starts the 24 h
// statistics afresh (only back-filled data can do that), until a restart
// restores them from the store.
func (s *State) Evict(idleSince time.Time) int {
	cutoff := idleSince.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ss := range s.syms {
		if ss.hot != nil && ss.arrived < cutoff {
			s.freeRings(ss.hot)
			ss.hot = nil
			ss.fresh = false // the store holds what it had
			n++
		}
	}
	s.hot -= n
	return n
}

// Forget removes, quote and all, every symbol that keep rejects and that
// no tick has arrived for since before (by the State's clock), and returns
// how many it removed. With keep the symbol registry as read at before, it
// drops the symbols an operator unregistered, never one registered since
// (its ticks arrived after before). The store keeps their data.
func (s *State) Forget(keep func(symbol string) bool, before time.Time) int {
	cutoff := before.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for sym, ss := range s.syms {
		if ss.arrived >= cutoff || keep(sym) {
			continue
		}
		if ss.hot != nil {
			s.freeRings(ss.hot)
			s.hot--
		}
		delete(s.syms, sym)
		s.markNotFresh(sym)
		n++
	}
	if n > 0 {
		kept := s.names[:0]
		for _, sym := range s.names {
			if s.syms[sym] != nil {
				kept = append(kept, sym)
			}
		}
		clear(s.names[len(kept):])
		s.names = kept
	}
	return n
}

// Len returns how many symbols the State holds, and how many of them have
// live statistics (the others were evicted).
func (s *State) Len() (symbols, hot int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.syms), s.hot
}

// Restore loads stored candles on start-up, before Apply: the 1-minute
// candles of the last 24 h and the newest candle of each interval. Each
// symbol counts as having last received a tick at its newest candle's
// close (see Evict). skipped are the stored candles left out (outside the
// limits): the recent candles cover none of their buckets, and a symbol of
// theirs is not fresh.
func (s *State) Restore(candles, skipped []Candle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range candles {
		ss := s.symbol(c.Symbol)
		ss.fresh = false
		// Its newest tick's date stands for its arrival, so that a symbol
		// idle for days before a restart is evicted by the first Evict.
		ss.arrived = max(ss.arrived, c.LastTS*int64(time.Millisecond))
		if c.Interval == Interval1m {
			ss.hot.stats.LoadMinute(c)
		}
		if o := &ss.hot.open[c.Interval]; o.Count == 0 || c.Start >= o.Start {
			if c.Interval == Interval1m && o.Count > 0 && c.Start > o.Start {
				// The day of minutes comes oldest first: each one
				// before the newest is a closed candle the ring holds.
				s.closeOpen(&ss.hot.recent[c.Interval], o)
			}
			*o = c
		}
	}
	for _, ss := range s.syms {
		if ss.hot != nil {
			ss.hot.stats.Quote(ss.quote.Symbol, &ss.quote)
			// The rings start at the restored newest candle: the store
			// holds older ones the state does not.
			// The rings start at the restored newest candle (the store
			// holds older ones the state does not), but for the minutes of
			// the day before it, all restored.
			for iv := range ss.hot.recent {
				r, open := &ss.hot.recent[iv], &ss.hot.open[iv]
				switch {
				case r.from == math.MaxInt64 || open.Count == 0:
				case Interval(iv) == Interval1m:
					r.from = max(r.from, open.Start-Window24h+1)
				default:
					s.free(r)
					r.from = open.Start
				}
			}
		}
	}
	for i := range skipped {
		s.skipRestored(&skipped[i])
	}
}
