package market

import "sort"

// Window24h is the span of the rolling statistics, in ms.
const Window24h int64 = 24 * 60 * 60 * 1000

const minuteMs int64 = 60_000

// Stats keeps one symbol's rolling 24 h statistics as its 1-minute candles of
// the last 24 h (at most 1,440, only minutes that traded). The window is the
// 1,440 minutes ending with the minute of the newest tick (event time), so
// the numbers do not depend on the wall clock and a replay reproduces them.
//
// Aggregates over every minute but the newest are cached and recomputed only
// when the newest minute changes or a late tick touches an older one, so the
// common tick costs O(1).
type Stats struct {
	minutes []Candle // 1m candles, ascending Start, within the window

	cacheOK   bool
	cacheHigh float64 // over minutes[:len-1]
	cacheLow  float64
	cacheVol  float64
}

// Add folds t (which must carry its Seq) into the statistics. Ticks older
// than the window are ignored and reported false.
func (s *Stats) Add(t *Tick) bool {
	start := Interval1m.Start(t.TS)
	n := len(s.minutes)
	if n == 0 || start > s.minutes[n-1].Start {
		s.minutes = append(s.minutes, NewCandle(Interval1m, t))
		s.evict(start)
		s.cacheOK = false
		return true
	}
	last := &s.minutes[n-1]
	if start == last.Start {
		last.Apply(t)
		return true
	}
	if start <= last.Start-Window24h {
		return false
	}
	i := sort.Search(n, func(i int) bool { return s.minutes[i].Start >= start })
	if i < n && s.minutes[i].Start == start {
		s.minutes[i].Apply(t)
	} else {
		s.minutes = append(s.minutes, Candle{})
		copy(s.minutes[i+1:], s.minutes[i:])
		s.minutes[i] = NewCandle(Interval1m, t)
	}
	s.cacheOK = false
	return true
}

// LoadMinute restores a stored 1-minute candle (on start-up, before any Add).
func (s *Stats) LoadMinute(c Candle) {
	s.minutes = append(s.minutes, c)
	sort.Slice(s.minutes, func(i, j int) bool { return s.minutes[i].Start < s.minutes[j].Start })
	s.evict(s.minutes[len(s.minutes)-1].Start)
	s.cacheOK = false
}

// evict drops minutes that fell out of the window ending at minute newest.
func (s *Stats) evict(newest int64) {
	cut := 0
	for cut < len(s.minutes) && s.minutes[cut].Start <= newest-Window24h {
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
			if i == 0 || m.High > s.cacheHigh {
				s.cacheHigh = m.High
			}
			if i == 0 || m.Low < s.cacheLow {
				s.cacheLow = m.Low
			}
			s.cacheVol += m.Volume
		}
		s.cacheOK = true
	}
	last := &s.minutes[n-1]
	high, low, vol := last.High, last.Low, s.cacheVol+last.Volume
	if n > 1 {
		high = max(high, s.cacheHigh)
		low = min(low, s.cacheLow)
	}
	open := s.minutes[0].Open
	// The derived values are rounded (RoundDerived) so no float noise
	// reaches a client; the prices are the ticks' own. Within Limits they
	// are finite (see HardMaxSize); finite is the last guard that a value
	// restored from an older version can never make a reader fail.
	*q = Quote{
		Symbol: symbol, Price: last.Close, TS: last.LastTS, Seq: last.LastSeq,
		Open24h: open, High24h: high, Low24h: low, Volume24h: finite(RoundDerived(vol)),
		Change24h: finite(RoundDerived(last.Close - open)),
	}
	if open != 0 {
		q.ChangePct24h = finite(RoundDerived((last.Close - open) / open * 100))
	}
	return true
}
