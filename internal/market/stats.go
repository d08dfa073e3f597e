package market

import "sort"

// Window24h is the span of the rolling statistics, in ms.
const Window24h int64 = 24 * 60 * 60 * 1000

const minuteMs int64 = 60_000

// Stats keeps one symbol's rolling 24 h statistics as its 1-minute buckets of
// the last 24 h (at most 1,440, only minutes that traded). The window is the
// 1,440 minutes ending with the minute of the newest tick (event time), so
// the numbers do not depend on the wall clock and a replay reproduces them.
//
// Aggregates over every minute but the newest are cached and recomputed only
// when the newest minute changes or a late tick touches an older one, so the
// common tick costs O(1).
//
// Memory. A bucket keeps only what the statistics need (56 bytes: start,
// open with the tick that set it, high, low, volume), and the close only of
// the newest; the buckets grow to at most 1,441. A symbol that trades every
// minute thus holds ~80 KB (a []Candle held ~220 KB), in the live state and
// again in the alert evaluator.
type Stats struct {
	minutes []minute // ascending start, within the window

	// The newest minute's close: the quote's price, time and seq.
	close   float64
	lastTS  int64
	lastSeq uint64

	cacheOK   bool
	cacheHigh float64 // over minutes[:len-1]
	cacheLow  float64
	cacheVol  float64
}

// minute is one 1-minute bucket of Stats.
type minute struct {
	start           int64 // bucket start, ms
	open, high, low float64
	vol             float64
	firstTS         int64  // TS of the open tick
	firstSeq        uint64 // Seq of the open tick
}

// maxMinutes is the most buckets Stats holds: the window's 1,440 and the
// one that starts the next before the oldest is dropped.
const maxMinutes = 1441

func newMinute(t *Tick) minute {
	return minute{start: Interval1m.Start(t.TS), open: t.Price, high: t.Price, low: t.Price, vol: t.Size, firstTS: t.TS, firstSeq: t.Seq}
}

// apply folds t, which falls in m's bucket, into m (as Candle.Apply does).
func (m *minute) apply(t *Tick) {
	m.high = max(m.high, t.Price)
	m.low = min(m.low, t.Price)
	m.vol += t.Size
	if t.TS < m.firstTS || (t.TS == m.firstTS && t.Seq < m.firstSeq) {
		m.open, m.firstTS, m.firstSeq = t.Price, t.TS, t.Seq
	}
}

// insert puts m at position i of the buckets, growing them by doubling up
// to maxMinutes (append's growth would leave most of 2,048 allocated).
func (s *Stats) insert(i int, m minute) {
	if len(s.minutes) == cap(s.minutes) {
		grown := make([]minute, len(s.minutes), min(max(4, 2*cap(s.minutes)), maxMinutes))
		copy(grown, s.minutes)
		s.minutes = grown
	}
	s.minutes = append(s.minutes, minute{})
	copy(s.minutes[i+1:], s.minutes[i:])
	s.minutes[i] = m
}

// Add folds t (which must carry its Seq) into the statistics. Ticks older
// than the window are ignored and reported false.
func (s *Stats) Add(t *Tick) bool {
	start := Interval1m.Start(t.TS)
	n := len(s.minutes)
	if n == 0 || start > s.minutes[n-1].start {
		s.evict(start) // first: the new bucket then always has room
		s.insert(len(s.minutes), newMinute(t))
		s.close, s.lastTS, s.lastSeq = t.Price, t.TS, t.Seq
		s.cacheOK = false
		return true
	}
	last := &s.minutes[n-1]
	if start == last.start {
		last.apply(t)
		if t.TS > s.lastTS || (t.TS == s.lastTS && t.Seq >= s.lastSeq) {
			s.close, s.lastTS, s.lastSeq = t.Price, t.TS, t.Seq
		}
		return true
	}
	if start <= last.start-Window24h {
		return false
	}
	i := sort.Search(n, func(i int) bool { return s.minutes[i].start >= start })
	if i < n && s.minutes[i].start == start {
		s.minutes[i].apply(t)
	} else {
		s.insert(i, newMinute(t))
	}
	s.cacheOK = false
	return true
}

// LoadMinute restores a stored 1-minute candle (on start-up, before any Add).
func (s *Stats) LoadMinute(c Candle) {
	m := minute{start: c.Start, open: c.Open, high: c.High, low: c.Low, vol: c.Volume, firstTS: c.FirstTS, firstSeq: c.FirstSeq}
	i := sort.Search(len(s.minutes), func(i int) bool { return s.minutes[i].start > c.Start })
	s.insert(i, m)
	if i == len(s.minutes)-1 { // the newest so far: its close is the quote's
		s.close, s.lastTS, s.lastSeq = c.Close, c.LastTS, c.LastSeq
	}
	s.evict(s.minutes[len(s.minutes)-1].start)
	s.cacheOK = false
}

// evict drops minutes that fall out of the window ending at minute newest.
func (s *Stats) evict(newest int64) {
	cut := 0
	for cut < len(s.minutes) && s.minutes[cut].start <= newest-Window24h {
		cut++
	}
	if cut > 0 {
		s.minutes = append(s.minutes[:0], s.minutes[cut:]...)
	}
}

// Quote fills q's price and 24 h fields from the statistics. It reports
// false when no tick has been seen.
func (s *Stats) Quote(symbol string, q *Quote) bool {
	n := len(s.minutes)
	if n == 0 {
		return false
	}
	if !s.cacheOK {
		s.cacheHigh, s.cacheLow, s.cacheVol = 0, 0, 0
		for i := range s.minutes[:n-1] {
			m := &s.minutes[i]
			if i == 0 || m.high > s.cacheHigh {
				s.cacheHigh = m.high
			}
			if i == 0 || m.low < s.cacheLow {
				s.cacheLow = m.low
			}
			s.cacheVol += m.vol
		}
		s.cacheOK = true
	}
	last := &s.minutes[n-1]
	high, low, vol := last.high, last.low, s.cacheVol+last.vol
	if n > 1 {
		high = max(high, s.cacheHigh)
		low = min(low, s.cacheLow)
	}
	open := s.minutes[0].open
	// The derived values are rounded (RoundDerived) so no float noise
	// reaches a client; the prices are the ticks' own. Within Limits they
	// are finite (see HardMaxSize); finite is the last guard that a value
	// restored from an older version can never make a reader fail.
	*q = Quote{
		Symbol: symbol, Price: s.close, TS: s.lastTS, Seq: s.lastSeq,
		Open24h: open, High24h: high, Low24h: low, Volume24h: finite(RoundDerived(vol)),
		Change24h: finite(RoundDerived(s.close - open)),
	}
	if open != 0 {
		q.ChangePct24h = finite(RoundDerived((s.close - open) / open * 100))
	}
	return true
}
