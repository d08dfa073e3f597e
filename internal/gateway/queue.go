package gateway

// A connection's bounded send queue and its overflow policy.

// entryBytes is what one queued message costs beyond its bytes: its slice
// header in the queue. It is counted so that many small messages cannot
// grow a queue past its bound either.
const entryBytes = 24

// roomLocked reports whether n more bytes fit under limit, counting what is
// queued and what the writer is writing. Caller holds c.mu.
func (c *conn) roomLocked(n, limit int) bool {
	return c.heldLocked()+n <= limit
}

// heldLocked is the bytes queued and being written. Caller holds c.mu.
func (c *conn) heldLocked() int {
	return int(c.qBytes) + int(c.inflight)
}

// appendLocked queues msg. Caller holds c.mu and has checked the room.
func (c *conn) appendLocked(msg []byte) {
	if len(c.q) == cap(c.q) && cap(c.q) <= maxSpare {
		c.q = c.hub.takeQueue(c.q)
	}
	c.q = append(c.q, msg)
	c.qBytes += int32(len(msg) + entryBytes)
}

// takeQueue returns a queue slice from the hub's pool holding q's messages,
// or q when the pool has none. q is at most maxSpare long.
func (h *Hub) takeQueue(q [][]byte) [][]byte {
	p, _ := h.queues.Get().(*[][]byte)
	if p == nil {
		return q
	}
	pq := append((*p)[:0], q...)
	clear(q)
	return pq
}

// giveQueue puts an empty queue slice larger than maxSpare and at most
// maxKeep in the hub's pool.
func (h *Hub) giveQueue(q [][]byte) {
	if cap(q) > maxSpare && cap(q) <= maxKeep {
		q = q[:0]
		h.queues.Put(&q)
	}
}

// pushTicks queues spans of tick messages of s's channel, in seq order,
// skipping ticks up to s.cursor. A span that does not fit in the queue's
// byte bound is not dropped: s starts lagging, and from then on the writer
// reads s's ticks from the symbol's replay ring as the queue drains (the
// ring holds them anyway, so a client that falls behind costs no memory of
// its own). A lagging s is skipped here. It reports whether s started
// lagging. No allocation once the queue has grown.
func (c *conn) pushTicks(s *subscription, spans []tickSpan) (lagged bool) {
	limit := c.hub.cfg.SendQueueBytes
	c.mu.Lock()
	if c.closing || s.dead || s.lagging {
		c.mu.Unlock()
		return false
	}
	for i := range spans {
		e := &spans[i]
		if e.last <= s.cursor {
			continue // the client has these (it resumed after them)
		}
		if e.first <= s.cursor { // starts inside: its newer ticks one by one
			for j := range e.ticks {
				te := &e.ticks[j]
				if te.seq <= s.cursor {
					continue
				}
				if !c.roomLocked(len(te.msg)+entryBytes, limit) {
					lagged = true
					break
				}
				c.appendLocked(te.msg)
				s.cursor = te.seq
			}
			if lagged {
				break
			}
			continue
		}
		if !c.roomLocked(len(e.msg)+entryBytes, limit) {
			lagged = true
			break
		}
		c.appendLocked(e.msg)
		s.cursor = e.last
	}
	if lagged {
		c.startLaggingLocked(s)
	}
	c.signalLocked()
	c.mu.Unlock()
	return lagged
}

// startLaggingLocked makes the writer read s's ticks after s.cursor from
// the replay ring. Caller holds c.mu.
func (c *conn) startLaggingLocked(s *subscription) {
	if s.lagging {
		return
	}
	if c.lagging == 0 && c.lost != nil && c.hub.cfg.Now().Sub(c.lost.last) > c.hub.cfg.MaxLag {
		c.lost = nil // caught up since: a new episode
	}
	s.lagging = true
	c.lagging++
	c.markDirtyLocked(s)
}

// stopLaggingLocked returns s to the live fan-out. Caller holds c.mu and
// the lock of s's topic, so that no publish comes between.
func (c *conn) stopLaggingLocked(s *subscription) {
	if !s.lagging {
		return
	}
	s.lagging = false
	c.lagging--
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

// pushOrdered queues msg unless the queue's byte bound would be passed; it
// reports whether msg was queued.
func (c *conn) pushOrdered(msg []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	if !c.roomLocked(len(msg)+entryBytes, c.hub.cfg.SendQueueBytes) {
		return false
	}
	c.appendLocked(msg)
	c.signalLocked()
	return true
}

// reply queues an answer to the client (ack, error, pong, snapshot, the gap
// of a resume). The client's message rate bounds these, and they may use
// the queue's byte bound a second time over; a client that sends without
// reading until even that is full is closed as a slow consumer (1008). One
// reply always fits in an empty queue, however large (the quotes snapshot).
func (c *conn) reply(msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	if c.heldLocked() > 0 && !c.roomLocked(len(msg)+entryBytes, 2*c.hub.cfg.SendQueueBytes) {
		c.slowCloseLocked("slow consumer: replies not read")
		return
	}
	c.appendLocked(msg)
	c.signalLocked()
}
