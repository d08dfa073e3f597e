package gateway

// A connection's writer goroutine: coalescing the queue into frames.

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// maxFrameBytes bounds the frames the writer coalesces queued messages into.
const maxFrameBytes = 64 << 10

// maxSpare is the largest queue slice kept for reuse while a connection's
// writer is idle; a larger one (a burst) is let go, so that an idle
// connection holds little memory.
const maxSpare = 64

// minQuota is the least room a lagging channel is given in a round of the
// writer, however many lag.
const minQuota = 4 << 10

// maxKeep is the largest queue slice a busy writer keeps for reuse (24 KiB
// of slice headers); a larger one, from a burst, is let go.
const maxKeep = 1024

// writeLoop is a connection's own writer, started by the pool's writer
// (writeRound) when something may have to wait. When the pool's writer
// handed over a round it started (handed), it first finishes
// pending[from:] — after the end of a frame the transport kept, if any,
// which goes first even when pending is empty or nil (a ping-only round) —
// then takes everything queued and writes it as few frames, with the
// conflated messages, gaps, lagging channels' ticks and pings, and repeats
// until nothing is left; then it ends. After a close request or a write
// error it closes the transport and writerDone and ends for good.
func (c *conn) writeLoop(pending [][]byte, from int, handed bool) {
	final := true
	defer func() {
		if final {
			c.endWriter(recover())
		}
	}()
	final = c.writeRun(pending, from, handed)
}

// writeRun writes until nothing is queued (false) or the connection ends (true).
func (c *conn) writeRun(pending [][]byte, from int, handed bool) bool {
	var w writeJob
	if handed {
		w.batch = pending
		if c.writeBatch(&w, from) {
			return true
		}
	}
	for {
		c.coalesceWait(w.lagged)
		switch c.take(&w, false) {
		case takeNone:
			return false
		}
		if c.writeBatch(&w, 0) {
			return true
		}
	}
}

// writeBatch writes w.batch[from:] (after the end of a frame the transport
// kept, if any), then a ping or the close w asks for; it reports whether
// the connection ended.
func (c *conn) writeBatch(w *writeJob, from int) bool {
	n, err := c.flush(w.batch[from:])
	if err != nil {
		if w.closing || !errors.Is(err, os.ErrDeadlineExceeded) {
			return true
		}
		// The client took nothing for WriteTimeout: a slow consumer.
		// The transport kept the rest of the frame it was writing;
		// the rest of the batch, a gap per lagging channel and the
		// close follow, if the client reads them in time.
		c.slowClose("slow consumer: write timeout")
		if _, err := c.flush(w.batch[from+n:]); err != nil {
			return true
		}
	}
	c.recycle(w.batch)
	if w.ping && !w.closing {
		if err := c.t.WritePing(c.hub.cfg.Now().Add(c.hub.cfg.WriteTimeout)); err != nil {
			return true
		}
	}
	if w.closing {
		c.sendClose(w.code, w.reason)
		return true
	}
	return false
}

// writeJob is what one round of the writer takes from the connection.
type writeJob struct {
	batch   [][]byte
	lag     []*subscription // scratch: the lagging channels of this round
	lagged  bool            // this round read lagging channels from their rings
	ping    bool
	closing bool
	code    int
	reason  string
}

// takeResult is what take found.
type takeResult uint8

const (
	takeNone      takeResult = iota // nothing to write: the writer is stopped
	takeBatch                       // w holds a batch
	takeDedicated                   // (pool only) nothing taken: this needs the connection's own writer
)

// take moves what is queued into w, then reads the lagging channels' ticks
// from their rings (or, closing as a slow consumer, their gaps); with
// nothing to do it marks the writer stopped and returns takeNone. A
// connection that lost ticks and is still behind MaxLag later is closed
// here as a slow consumer. For the pool's writer (pool), which must not
// wait, it takes nothing and returns takeDedicated when the round could
// wait: a close, a lagging channel, or a busy connection (a ping it
// writes itself, in its write).
func (c *conn) take(w *writeJob, pool bool) takeResult {
	c.mu.Lock()
	if c.holding && !c.closing || !c.hasWorkLocked() {
		c.idleLocked() // on holding, subscribe's release starts a writer again
		c.mu.Unlock()
		return takeNone
	}
	if pool && (c.closing || c.lagging > 0 || c.busyLocked()) {
		c.mu.Unlock()
		return takeDedicated
	}
	if !c.closing && c.lost != nil {
		c.checkLagLocked()
	}
	batch := c.q
	c.inflight += c.qBytes
	inflight := int(c.inflight)
	c.q, c.qBytes = c.spare, 0
	c.spare = nil
	lag := w.lag[:0]
	for _, s := range c.dirty {
		s.queued = false
		if s.dead {
			continue
		}
		if s.lagging {
			lag = append(lag, s)
			continue
		}
		if s.pending != nil {
			batch = append(batch, s.pending) // shared by the channel's subscribers: not counted
			s.pending = nil
		}
	}
	clear(c.dirty)
	c.dirty = c.dirty[:0]
	*w = writeJob{ping: c.pingDue, closing: c.closing, code: int(c.closeCode), reason: c.closeReason}
	slow := c.slow
	c.pingDue = false
	c.mu.Unlock()
	// Each lagging channel may fill an equal share of the room, so that
	// one busy channel cannot starve the others of a slow connection.
	quota := 0
	if len(lag) > 0 {
		quota = max(minQuota, (c.hub.cfg.SendQueueBytes-inflight)/len(lag))
	}
	for _, s := range lag {
		switch {
		case !w.closing:
			batch = c.refill(s, batch, quota)
		case slow:
			batch = c.lagGap(s, batch)
		}
	}
	clear(lag)
	w.batch, w.lag, w.lagged = batch, lag[:0], len(lag) > 0
	return takeBatch
}

// busyLocked reports whether c is written often (quick) and was written
// less than WriteCoalesce ago: then its writer waits for the rest of that
// window, so that what arrives meanwhile shares one frame. A connection
// sent a message every few hundred ms (the classic fan-out: 10,000
// connections, 2–8 ticks/s each) is rarely quick: a wait would cost it a
// goroutine, a timer and a write that may wait, and add up to
// WriteCoalesce of latency, for a frame that seldom gets a second message.
// Caller holds c.mu.
func (c *conn) busyLocked() bool {
	d := c.hub.cfg.WriteCoalesce
	return d > 0 && c.quick && c.lastWrite != 0 && c.hub.cfg.Now().UnixNano()-c.lastWrite < d.Nanoseconds()
}

// wroteLocked records a write at now (Unix ns of Config.Now). Caller holds
// c.mu.
func (c *conn) wroteLocked(now int64) {
	// Twice the window: a writer that waited writes WriteCoalesce after
	// the previous write, and must stay quick.
	c.quick = c.lastWrite != 0 && now-c.lastWrite < 2*c.hub.cfg.WriteCoalesce.Nanoseconds()
	c.lastWrite = now
}

// coalesceWait waits until WriteCoalesce has passed since c's last write
// when c is busy and has something queued, so that what arrives meanwhile
// shares the next frame and write. It never waits on an empty queue (take
// then stops the writer), on a close, or while catching up a lagging
// channel (lagged: its batches are full already).
func (c *conn) coalesceWait(lagged bool) {
	if lagged {
		return
	}
	c.mu.Lock()
	var wait time.Duration
	if c.hasWorkLocked() && !c.closing && c.busyLocked() {
		wait = time.Duration(c.lastWrite + c.hub.cfg.WriteCoalesce.Nanoseconds() - c.hub.cfg.Now().UnixNano())
	}
	c.mu.Unlock()
	if wait > 0 {
		time.Sleep(wait)
	}
}

// hasWorkLocked reports whether there is anything for a writer to do.
// Caller holds c.mu.
func (c *conn) hasWorkLocked() bool {
	return len(c.q) > 0 || len(c.dirty) > 0 || c.pingDue || c.closing
}

// idleLocked marks the writer stopped and lets go of a large queue slice
// (a burst) into the hub's pool, so that an idle connection holds little
// memory. Caller holds c.mu.
func (c *conn) idleLocked() {
	c.writing = false
	if cap(c.spare) > maxSpare {
		c.hub.giveQueue(c.spare)
		c.spare = nil
	}
	if cap(c.q) > maxSpare && len(c.q) == 0 { // a subscribe holding the writer may have queued
		c.hub.giveQueue(c.q)
		c.q = nil
	}
}

// checkLagLocked closes the connection as a slow consumer when it is still
// behind (lagging) MaxLag after it first fell out of a replay ring; see
// lostLocked for when that episode starts and ends. Caller holds c.mu.
func (c *conn) checkLagLocked() {
	if now := c.hub.cfg.Now(); c.lagging > 0 && now.Sub(c.lost.first) > c.hub.cfg.MaxLag {
		c.slowCloseLocked("slow consumer: behind for " + now.Sub(c.lost.first).Round(time.Millisecond).String())
	}
}

// slowClose closes the connection as a slow consumer: what is queued is
// still written, then a gap for each lagging channel, then close 1008.
func (c *conn) slowClose(reason string) {
	c.mu.Lock()
	c.slowCloseLocked(reason)
	c.mu.Unlock()
}

func (c *conn) slowCloseLocked(reason string) {
	if c.closing {
		return
	}
	c.slow = true
	c.hub.met.slow.Inc()
	c.closeLocked(closePolicy, reason)
}

// flush writes batch coalesced into frames of about maxFrameBytes (one
// write each, and no frame a client must buffer whole at megabytes). On an
// error it returns how many messages were handed to the transport: after a
// timeout the transport finishes the frame it was writing first when it is
// written to again.
func (c *conn) flush(batch [][]byte) (int, error) {
	timeout := c.hub.cfg.WriteTimeout
	if len(batch) == 0 {
		// Nothing new: finish a frame the transport kept, if any (the
		// pool's writer could not write all of it at once).
		return 0, c.t.Flush(c.hub.cfg.Now().Add(timeout))
	}
	done := 0
	for rest := batch; len(rest) > 0; {
		n := frameLen(rest)
		err := c.t.WriteBatch(rest[:n], c.hub.cfg.Now().Add(timeout))
		done += n
		if err != nil {
			c.hub.log.Debug("websocket write failed", "err", err)
			return done, err
		}
		c.hub.met.sent.Add(float64(n))
		c.hub.met.frames.Inc()
		rest = rest[n:]
	}
	return done, nil
}

// recycle ends a written batch: its bytes no longer count, and its slice is
// kept as the next queue unless it is large (a burst).
func (c *conn) recycle(batch [][]byte) {
	clear(batch)
	c.mu.Lock()
	c.inflight = 0
	c.wroteLocked(c.hub.cfg.Now().UnixNano())
	if cap(batch) <= maxKeep {
		c.spare = batch[:0]
	}
	c.mu.Unlock()
}

// sendClose sends a close frame with code (none when 0) and lets the client
// answer it before the TCP connection goes.
func (c *conn) sendClose(code int, reason string) {
	if code == 0 {
		return
	}
	_ = c.t.WriteClose(code, reason, c.hub.cfg.Now().Add(c.hub.cfg.WriteTimeout))
	// Wait for the client's close reply (it reads what was queued before
	// the close first): closing the socket before it arrives makes the
	// kernel answer the late reply with a reset, and a client that has not
	// read everything yet loses the rest. Drain cuts what is left when the
	// shutdown budget ends.
	timer := time.NewTimer(c.hub.cfg.WriteTimeout)
	select {
	case <-c.readerDone:
	case <-timer.C:
	}
	timer.Stop()
}

// endWriter ends the connection's writing for good (after a close, a write
// error or a panic p).
func (c *conn) endWriter(p any) {
	if p != nil {
		c.hub.log.Error("websocket writer panic", "panic", fmt.Sprint(p))
	}
	c.mu.Lock()
	c.closing = true
	c.q, c.dirty, c.spare = nil, nil, nil
	c.qBytes, c.inflight = 0, 0
	c.mu.Unlock()
	_ = c.t.Close()
	close(c.writerDone)
}
