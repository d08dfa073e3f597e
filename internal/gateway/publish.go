package gateway

// Fan-out: what the live feed publishes, encoded once and queued to every subscriber.

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/findash/findash/internal/market"
)

// Publish fans out ticks (one symbol's batch, Seq set, increasing) and the
// quotes and candles in u (either may be nil). A tick whose seq is not above
// the newest already published for its symbol is ignored, so redelivery is
// harmless. Publish never blocks on a client: a subscriber whose queue is
// full reads its ticks from the replay ring instead (gap for what the ring
// no longer holds by then), candles are conflated, quotes are sent by Run
// at most 4 times a second. Call it from one goroutine.
func (h *Hub) Publish(ticks []market.Tick, u *market.Update) {
	for i := 0; i < len(ticks); {
		j := i + 1
		for j < len(ticks) && ticks[j].Symbol == ticks[i].Symbol {
			j++
		}
		h.publishTicks(ticks[i:j])
		i = j
	}
	if u == nil {
		return
	}
	if len(u.Quotes) > 0 {
		h.pendingMu.Lock()
		for _, q := range u.Quotes {
			h.pendingQ[q.Symbol] = q
		}
		h.pendingMu.Unlock()
	}
	var conflated int
	for i := range u.Candles {
		c := &u.Candles[i]
		if int(c.Interval) >= market.NumIntervals {
			continue
		}
		t := h.lockTopic(c.Symbol, false)
		if t == nil {
			continue
		}
		if subs := t.candles[c.Interval]; len(subs) > 0 {
			msg, err := encodeData("candle", t.candleChannel(c.Interval), c)
			if err != nil {
				h.log.Error("encode candle", "symbol", c.Symbol, "err", err)
			} else {
				for _, s := range subs {
					if s.c.pushLatest(s, msg) {
						conflated++
					}
				}
			}
		}
		t.mu.Unlock()
	}
	if conflated > 0 {
		h.met.conflated.Add(float64(conflated))
	}
}

func (h *Hub) publishTicks(ticks []market.Tick) {
	sym := ticks[0].Symbol
	if !market.ValidSymbol(sym) {
		h.log.Warn("publish: invalid symbol dropped", "symbol", fmt.Sprintf("%.40q", sym), "ticks", len(ticks))
		return
	}
	now := h.cfg.Now().UnixNano()
	t := h.lockTopic(sym, true)
	defer t.mu.Unlock()

	// encode the new ticks once, into one buffer for the whole batch
	size := 0
	last := t.last
	for i := range ticks {
		if ticks[i].Seq > last {
			last = ticks[i].Seq
			size += 129 + 2*len(sym) // a tick message and its newline
		}
	}
	if size == 0 {
		return
	}
	buf := make([]byte, 0, size)
	batch := t.batch[:0]
	spans := t.spans[:0]
	starts := t.starts[:0]
	last = t.last
	spanStart := 0
	for i := range ticks {
		tk := &ticks[i]
		if tk.Seq <= last {
			continue
		}
		last = tk.Seq
		if len(batch) > 0 {
			buf = append(buf, '\n') // between spans too: the ring reads runs across them
		}
		if n := len(spans); n == 0 || spans[n-1].n == spanTicks {
			spanStart = len(buf)
			spans = append(spans, tickSpan{first: tk.Seq, i0: len(batch)})
		}
		start := len(buf)
		buf = appendTick(buf, t.ticksName, tk)
		batch = append(batch, ringEntry{seq: tk.Seq, at: now, msg: buf[start:len(buf):len(buf)]})
		starts = append(starts, start)
		sp := &spans[len(spans)-1]
		sp.last, sp.n, sp.msg = tk.Seq, sp.n+1, buf[spanStart:len(buf):len(buf)]
	}
	// A held tick's message reaches, past its length and up to its
	// capacity, to the end of the buffer: the ring hands a lagging client
	// a run of consecutive ticks as one slice (see refill). Ticks encoded
	// before the buffer grew are in an older array and keep their end.
	for i := range batch {
		if st := starts[i]; st < len(buf) && &buf[st] == &batch[i].msg[0] {
			batch[i].msg = buf[st : st+len(batch[i].msg) : len(buf)]
		}
	}
	clear(starts)
	t.starts = starts[:0]
	for i := range batch {
		t.push(batch[i].seq, now, batch[i].msg, h.cfg.ReplayTicks)
	}
	for i := range spans {
		if sp := &spans[i]; sp.n > 1 {
			sp.ticks = batch[sp.i0 : sp.i0+sp.n]
		}
	}
	lagged := 0
	for _, s := range t.ticks {
		if s.c.pushTicks(s, spans) {
			lagged++
		}
	}
	clear(spans)
	t.spans = spans[:0]
	clear(batch)
	t.batch = batch[:0]
	t.prune(now - h.cfg.ReplayAge.Nanoseconds())
	if lagged > 0 {
		h.met.lagged.Add(float64(lagged))
	}
}

// PublishAlert sends data as an alert message to every connection of
// userID subscribed to alerts. A connection whose queue is full misses it
// (counted as dropped); alerts stay listed by the REST API.
func (h *Hub) PublishAlert(userID int64, data any) {
	h.alertsMu.Lock()
	defer h.alertsMu.Unlock()
	l := h.alertsSubs[userID]
	if l == nil || len(*l) == 0 {
		return
	}
	msg, err := encodeData("alert", "alerts", data)
	if err != nil {
		h.log.Error("encode alert", "user_id", userID, "err", err)
		return
	}
	for _, s := range *l {
		if !s.c.pushOrdered(msg) {
			h.met.dropped.Inc()
		}
	}
}

// flushQuotes sends the quotes changed since the last flush to every quotes
// subscriber. A subscriber whose previous quotes message is still unsent
// gets the full list instead (latest wins, nothing lost).
func (h *Hub) flushQuotes() {
	h.pendingMu.Lock()
	qs := h.qbuf[:0]
	for _, q := range h.pendingQ {
		qs = append(qs, q)
	}
	clear(h.pendingQ)
	h.qbuf = qs
	h.pendingMu.Unlock() // qbuf is only touched here, by Run's goroutine
	if len(qs) == 0 {
		return
	}
	slices.SortFunc(qs, func(a, b market.Quote) int { return cmp.Compare(a.Symbol, b.Symbol) })

	h.quotesMu.Lock()
	defer h.quotesMu.Unlock()
	if len(h.quoteSubs) == 0 {
		return
	}
	msg, err := encodeData("quotes", "quotes", qs)
	if err != nil {
		h.log.Error("encode quotes", "err", err)
		return
	}
	var full []byte
	conflated := 0
	for _, s := range h.quoteSubs {
		if s.c.pushIfIdle(s, msg) {
			continue
		}
		if full == nil {
			if full, err = encodeData("quotes", "quotes", h.src.Quotes(nil)); err != nil {
				h.log.Error("encode quotes", "err", err)
				return
			}
		}
		s.c.pushLatest(s, full)
		conflated++
	}
	if conflated > 0 {
		h.met.conflated.Add(float64(conflated))
	}
}
