package gateway

// Reading from the durable log what a replay ring no longer holds.

import (
	"context"
	"time"
)

// historyTimeout bounds one read of History.
const historyTimeout = 5 * time.Second

// tickBytes is about what one encoded tick message takes in the queue,
// to size a read of History to the room left.
const tickBytes = 150

// readHistory appends to batch s's ticks after `after` read from History,
// encoded for this connection, within room bytes; a gap for what the log
// no longer holds either. When the log has nothing more up to floor (the
// ring's), the cursor moves to floor. It moves s.cursor past them, unless the channel
// changed meanwhile (unsubscribed, closing), and reports whether it did.
// Called by the writer, holding no lock; it waits for one of
// Config.HistoryReaders slots.
func (c *conn) readHistory(s *subscription, after, floor uint64, room int, batch [][]byte) ([][]byte, bool) {
	h := c.hub
	h.histSem <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), historyTimeout)
	want := room / tickBytes
	ticks, lost, err := h.cfg.History.Ticks(ctx, s.ch.Symbol, after, floor, want)
	cancel()
	<-h.histSem
	if err != nil {
		h.met.logReads.WithLabelValues("error").Inc()
		h.log.Warn("read ticks from the event log for a client behind the replay ring", "symbol", s.ch.Symbol, "after", after, "err", err)
		// what was read still counts; the rest becomes a gap (refill)
	} else {
		h.met.logReads.WithLabelValues("ok").Inc()
	}
	var buf []byte
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.dead || !s.lagging || c.closing || s.cursor != after {
		return batch, false
	}
	if lost > after {
		gap := encodeGap(s.name, after+1, lost)
		batch = append(batch, gap)
		c.inflight += int32(len(gap) + entryBytes)
		h.met.gaps.Inc()
		s.cursor = lost
	}
	all := true
	for i := range ticks {
		tk := &ticks[i]
		if tk.Seq <= s.cursor {
			continue
		}
		if tk.Seq > floor { // the ring has it: no copy
			break
		}
		if buf == nil {
			buf = make([]byte, 0, min(room, len(ticks)*tickBytes))
		}
		start := len(buf)
		buf = appendTick(buf, s.name, tk)
		msg := buf[start:len(buf):len(buf)]
		if !c.roomLocked(len(msg)+entryBytes, h.cfg.SendQueueBytes) {
			all = false
			break
		}
		batch = append(batch, msg)
		c.inflight += int32(len(msg) + entryBytes)
		s.cursor = tk.Seq
	}
	if err == nil && all && (len(ticks) < want || ticks[len(ticks)-1].Seq >= floor) && s.cursor < floor {
		// The log had no more: no tick of the symbol up to floor is
		// missing (the ring has what came after).
		s.cursor = floor
	}
	h.met.logTicks.Add(float64(len(ticks)))
	return batch, s.cursor != after
}
