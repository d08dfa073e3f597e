package gateway

// The channel registry: adding and removing a connection's subscriptions.

import (
	"github.com/findash/findash/internal/market"
)

// subList is a set of subscriptions with O(1) removal; each subscription
// records its own index. Guarded by the lock of the list's owner.
type subList []*subscription

func (l *subList) add(s *subscription) {
	s.idx = len(*l)
	*l = append(*l, s)
}

func (l *subList) remove(s *subscription) {
	ls := *l
	i := s.idx
	if i < 0 || i >= len(ls) || ls[i] != s {
		return
	}
	last := len(ls) - 1
	ls[i] = ls[last]
	ls[i].idx = i
	ls[last] = nil
	*l = ls[:last]
	s.idx = -1
}

// register adds s to its channel, queueing its snapshot first and, for a
// resumed ticks channel, a gap for what is no longer held and the start of
// its replay (see resume), all under the channel's lock so that no live
// tick is missed or repeated.
func (h *Hub) register(s *subscription, since uint64, resume bool) {
	c := s.c
	switch s.ch.Kind {
	case KindTicks:
		t := h.lockTopic(s.ch.Symbol, true)
		defer t.mu.Unlock()
		var data any
		if q, ok := h.src.Quote(s.ch.Symbol); ok {
			data = q
		}
		h.replySnapshot(s, data)
		s.topic = t
		if resume {
			h.resume(t, s, since)
		} else {
			c.mu.Lock()
			s.cursor = t.last // live ticks only
			c.mu.Unlock()
		}
		t.ticks.add(s)
	case KindCandles:
		t := h.lockTopic(s.ch.Symbol, true)
		defer t.mu.Unlock()
		var data any
		if cd, ok := h.src.OpenCandle(s.ch.Symbol, s.ch.Interval); ok {
			data = cd
		}
		h.replySnapshot(s, data)
		t.candles[s.ch.Interval].add(s)
	case KindQuotes:
		h.quotesMu.Lock()
		defer h.quotesMu.Unlock()
		qs := h.src.Quotes(nil)
		if qs == nil {
			qs = []market.Quote{}
		}
		h.replySnapshot(s, qs)
		h.quoteSubs.add(s)
	case KindAlerts:
		h.alertsMu.Lock()
		defer h.alertsMu.Unlock()
		l := h.alertsSubs[c.userID]
		if l == nil {
			l = new(subList)
			h.alertsSubs[c.userID] = l
		}
		l.add(s)
	}
}

func (h *Hub) replySnapshot(s *subscription, data any) {
	msg, err := encodeData("snapshot", s.name, data)
	if err != nil {
		h.log.Error("encode snapshot", "channel", s.name, "err", err)
		return
	}
	s.c.reply(msg)
}

// unregister removes s from its channel; nothing more is sent for it.
func (h *Hub) unregister(s *subscription) {
	switch s.ch.Kind {
	case KindTicks, KindCandles:
		if t := h.lockTopic(s.ch.Symbol, false); t != nil {
			if s.ch.Kind == KindTicks {
				t.ticks.remove(s)
			} else {
				t.candles[s.ch.Interval].remove(s)
			}
			if t.last <= h.floor.Load() {
				h.dropIfEmpty(t)
			}
			t.mu.Unlock()
		}
	case KindQuotes:
		h.quotesMu.Lock()
		h.quoteSubs.remove(s)
		h.quotesMu.Unlock()
	case KindAlerts:
		h.alertsMu.Lock()
		if l := h.alertsSubs[s.c.userID]; l != nil {
			l.remove(s)
			if len(*l) == 0 {
				delete(h.alertsSubs, s.c.userID)
			}
		}
		h.alertsMu.Unlock()
	}
	c := s.c
	c.mu.Lock()
	s.dead = true
	s.pending = nil
	if s.lagging {
		s.lagging = false
		c.lagging--
	}
	c.mu.Unlock()
}
