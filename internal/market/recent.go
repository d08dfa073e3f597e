package market

// Recent candles. Beside its open (newest) candle of each interval, an
// active symbol keeps up to StateConfig.RecentCandles closed candles before
// it, so that the common read — the latest candles of an interval up to
// now — is answered without a database query (RecentCandles). The store
// keeps the same candles: both are folds of the same ticks of the log.
//
// Coverage. A ring holds every candle with a Start at or after its from,
// none missing: from is the open bucket's start when the ring begins (the
// restored newest candle, or a symbol's first tick since it became active),
// and moves forward when the oldest candle is dropped. A late tick for a
// covered bucket updates or inserts its candle there; one before from is
// left to the store, as before. A symbol new to the state (not restored,
// never forgotten) had nothing in the store: its rings cover all time.
// Candles written to the store without the log (findash import) are not
// seen: StopRecent turns a symbol's rings off for good once an import of
// it is noticed, and NoteImported trims those of symbols imported before
// the watch began (see live.ImportWatch).

import "math"

// recentCandles holds the closed candles of one symbol and interval before
// its open one, oldest first, in a circular buffer.
type recentCandles struct {
	buf  []Candle
	head int   // index of the oldest candle in buf
	n    int   // candles held
	from int64 // every candle of Start ≥ from, up to the open one, is held
	// floor: from never goes below it — past the newest stored candle the
	// restore skipped (outside the limits), which the ring cannot hold.
	floor int64
}

// at returns the i-th oldest candle held.
func (r *recentCandles) at(i int) *Candle { return &r.buf[(r.head+i)%len(r.buf)] }

// search returns the index of the first candle held with Start ≥ start.
func (r *recentCandles) search(start int64) int {
	lo, hi := 0, r.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.at(m).Start < start {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// room makes room for one more candle: it grows buf within the State's
// bounds or drops the oldest candle (moving from past it). It reports
// whether there is room. Caller holds s.mu.
func (s *State) room(r *recentCandles) bool {
	if r.n < len(r.buf) {
		return true
	}
	if len(r.buf) < s.recentCap && s.recentLen < s.recentMax {
		grown := min(s.recentCap, max(16, 2*len(r.buf)))
		buf := make([]Candle, grown)
		for i := range r.n {
			buf[i] = *r.at(i)
		}
		s.recentLen += grown - len(r.buf)
		r.buf, r.head = buf, 0
		return true
	}
	if r.n == 0 {
		return false
	}
	old := r.at(0)
	r.from = max(r.from, old.Start+1)
	*old = Candle{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return true
}

// closeOpen keeps c, the open candle a newer bucket replaces, as the
// newest closed one. Caller holds s.mu.
func (s *State) closeOpen(r *recentCandles, c *Candle) {
	if r.from == math.MaxInt64 {
		return // off
	}
	if !s.room(r) {
		r.from = c.Start + 1
		return
	}
	*r.at(r.n) = *c
	r.n++
}

// applyLate folds t, of bucket start before the open one, into the ring
// when the ring covers that bucket. Caller holds s.mu.
func (s *State) applyLate(r *recentCandles, iv Interval, t *Tick, start int64) {
	if start < r.from {
		return // before the ring: the store has it
	}
	i := r.search(start)
	if i < r.n && r.at(i).Start == start {
		r.at(i).Apply(t)
		return
	}
	// A bucket in a gap: insert it in order.
	if !s.room(r) || start < r.from {
		r.from = max(r.from, start+1)
		return
	}
	i = r.search(start) // room may have dropped the oldest
	r.n++
	for k := r.n - 1; k > i; k-- {
		*r.at(k) = *r.at(k - 1)
	}
	*r.at(i) = NewCandle(iv, t)
}

// skipRestored notes a stored candle Restore skipped: the store holds it,
// the state does not, so the symbol is not fresh and its ring of c's
// interval covers only what is after c; a symbol of which every stored
// candle was skipped has its recent candles off. Caller holds s.mu.
func (s *State) skipRestored(c *Candle) {
	s.markNotFresh(c.Symbol)
	ss := s.syms[c.Symbol]
	if ss == nil {
		// Every stored candle of it skipped: its first live tick may fall
		// in a skipped bucket, which a ring would then claim. Off for good.
		if s.stopped == nil {
			s.stopped = make(map[string]struct{})
		}
		s.stopped[c.Symbol] = struct{}{}
		return
	}
	ss.fresh = false
	if ss.hot == nil {
		return
	}
	r := &ss.hot.recent[c.Interval]
	r.floor = max(r.floor, c.Start+1)
	if r.from == math.MaxInt64 {
		return // off
	}
	r.from = max(r.from, r.floor)
	// Drop the candles held before from: a query never reaches them.
	for r.n > 0 && r.at(0).Start < r.from {
		*r.at(0) = Candle{}
		r.head = (r.head + 1) % len(r.buf)
		r.n--
	}
}

// free gives back r's memory. Caller holds s.mu.
func (s *State) free(r *recentCandles) {
	s.recentLen -= len(r.buf)
	r.buf, r.head, r.n = nil, 0, 0
}

// RecentCandles answers q from memory when the symbol's candles of
// q.Interval from q.From on are all held: the same candles, with the same
// values, as the store's Candles(q) once the persister has caught up, with
// the open candle in place of its stored bucket. It reports false when
// memory cannot answer (the symbol not active, the range reaching before
// what is held, its rings off): ask the store.
func (s *State) RecentCandles(q CandleQuery) ([]Candle, bool) {
	if q.Interval >= numIntervals {
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss := s.syms[q.Symbol]
	if ss == nil || ss.hot == nil {
		return nil, false
	}
	open := &ss.hot.open[q.Interval]
	r := &ss.hot.recent[q.Interval]
	if open.Count == 0 || q.From < r.from {
		return nil, false
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	i := r.search(q.From)
	if q.Newest {
		// Start at the newest limit candles of the range rather than at
		// From: copying the whole ring and dropping its head grew out
		// past its capacity (a live chart's "latest 50" of 500 held).
		j := r.n
		if q.To < math.MaxInt64 {
			j = r.search(q.To + 1)
		}
		keep := limit
		if open.Start >= q.From && open.Start <= q.To {
			keep--
		}
		i = max(i, j-keep)
	}
	out := make([]Candle, 0, min(limit, r.n-i+1))
	for ; i < r.n; i++ {
		c := r.at(i)
		if c.Start > q.To || (!q.Newest && len(out) == limit) {
			break
		}
		out = append(out, *c)
	}
	if open.Start >= q.From && open.Start <= q.To && (q.Newest || len(out) < limit) {
		out = append(out, *open)
	}
	if q.Newest && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, true
}

// StopRecent turns symbol's recent candles off for as long as the process
// runs: its candle reads go to the store. For a symbol whose stored candles
// changed without the log (an import).
func (s *State) StopRecent(symbol string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped == nil {
		s.stopped = make(map[string]struct{})
	}
	s.stopped[symbol] = struct{}{} // a symbol revived or new later starts off too
	if ss := s.syms[symbol]; ss != nil && ss.hot != nil {
		s.stopRings(ss.hot)
	}
}

// stopRings frees h's rings and turns them off. Caller holds s.mu.
func (s *State) stopRings(h *hotState) {
	for iv := range h.recent {
		s.free(&h.recent[iv])
		h.recent[iv].from = math.MaxInt64
	}
}

// freeRings gives back the memory of h's rings. Caller holds s.mu.
func (s *State) freeRings(h *hotState) {
	for iv := range h.recent {
		s.free(&h.recent[iv])
	}
}

// maxNotFresh bounds the names State keeps of symbols forgotten or
// imported (~100 bytes each); past it no new symbol counts as fresh.
const maxNotFresh = 100_000

// markNotFresh notes that the store may hold candles of sym the state
// does not. Caller holds s.mu.
func (s *State) markNotFresh(sym string) {
	if s.noFresh {
		return
	}
	if len(s.notFresh) >= maxNotFresh {
		s.notFresh, s.noFresh = nil, true
		return
	}
	if s.notFresh == nil {
		s.notFresh = make(map[string]struct{})
	}
	s.notFresh[sym] = struct{}{}
}

// NoteImported says the store may hold candles of these symbols that the
// state never saw (they were imported at some time before): each ring of
// theirs now covers its open bucket on, and a symbol created later is not
// fresh. For the imports made before a watch of them began.
func (s *State) NoteImported(symbols []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sym := range symbols {
		s.markNotFresh(sym)
		ss := s.syms[sym]
		if ss == nil || ss.hot == nil {
			continue
		}
		ss.fresh = false
		for iv := range ss.hot.recent {
			if r := &ss.hot.recent[iv]; r.from != math.MaxInt64 {
				s.free(r)
				r.from = ss.hot.open[iv].Start
			}
		}
	}
}

// RecentLen returns how many candles the recent rings have room for, all
// symbols together (the memory they hold, ~110 bytes each).
func (s *State) RecentLen() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.recentLen
}
