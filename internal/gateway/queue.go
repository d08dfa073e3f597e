package gateway

// A connection's bounded send queue and its overflow policy.

// pushTicks queues spans of tick messages of s's channel, in seq order.
// With limit entries queued, a whole span is dropped and its seqs added to
// s's gap, which is reported before the channel's next queued tick (or at the
// writer's next batch). It returns how many were dropped. No allocation
// once the queue has grown, except to encode a gap.
func (c *conn) pushTicks(s *subscription, spans []tickSpan, limit int) (dropped int) {
	c.mu.Lock()
	if c.closing || s.dead {
		c.mu.Unlock()
		return 0
	}
	for i := range spans {
		e := &spans[i]
		if s.after != 0 { // resumed on this hub: skip what the client has seen
			if e.last <= s.after {
				continue
			}
			if e.first <= s.after { // starts inside: its newer ticks one by one
				for j := range e.ticks {
					if te := &e.ticks[j]; te.seq > s.after {
						dropped += c.pushSpanLocked(s, te.seq, te.seq, 1, te.msg, limit)
					}
				}
				s.after = 0
				continue
			}
			s.after = 0 // past the floor for good: seqs only grow
		}
		// The common case, inline: queue the span or add it to the gap.
		if s.gapTo == 0 && len(c.q) < limit {
			c.q = append(c.q, e.msg)
			continue
		}
		dropped += c.pushSpanLocked(s, e.first, e.last, e.n, e.msg, limit)
	}
	c.signalLocked()
	c.mu.Unlock()
	return dropped
}

// pushSpanLocked queues one span of s's ticks, or drops it into s's gap when
// the queue holds limit entries; it returns how many ticks it dropped.
// Caller holds c.mu.
func (c *conn) pushSpanLocked(s *subscription, first, last uint64, n int, msg []byte, limit int) int {
	if s.gapTo != 0 {
		if len(c.q)+2 > limit {
			s.gapTo = last
			return n
		}
		c.q = append(c.q, encodeGap(s.name, s.gapFrom, s.gapTo))
		c.hub.met.gaps.Inc()
		s.gapFrom, s.gapTo = 0, 0
	} else if len(c.q) >= limit {
		s.gapFrom, s.gapTo = first, last
		c.markDirtyLocked(s)
		return n
	}
	c.q = append(c.q, msg)
	return 0
}

// pushLatest makes msg s's pending conflated message, replacing an unsent
// one (latest wins). It reports whether one was replaced.
func (c *conn) pushLatest(s *subscription, msg []byte) (replaced bool) {
	c.mu.Lock()
	if c.closing || s.dead {
		c.mu.Unlock()
		return false
	}
	replaced = s.pending != nil
	s.pending = msg
	c.markDirtyLocked(s)
	c.signalLocked()
	c.mu.Unlock()
	return replaced
}

// pushIfIdle is pushLatest when nothing is pending; otherwise it changes
// nothing and reports false.
func (c *conn) pushIfIdle(s *subscription, msg []byte) bool {
	c.mu.Lock()
	if c.closing || s.dead {
		c.mu.Unlock()
		return true
	}
	if s.pending != nil {
		c.mu.Unlock()
		return false
	}
	s.pending = msg
	c.markDirtyLocked(s)
	c.signalLocked()
	c.mu.Unlock()
	return true
}

// pushOrdered queues msg unless limit messages are queued; it reports
// whether msg was queued.
func (c *conn) pushOrdered(msg []byte, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	if len(c.q) >= limit {
		return false
	}
	c.q = append(c.q, msg)
	c.signalLocked()
	return true
}

// reply queues an answer to the client (ack, error, pong, snapshot). The
// client's message rate bounds these; a client that sends without reading
// until even the replay allowance is full is disconnected.
func (c *conn) reply(msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	if len(c.q) >= c.hub.hardLimit {
		c.closeLocked(closePolicy, "send queue overflow")
		return
	}
	c.q = append(c.q, msg)
	c.signalLocked()
}
