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

// writeLoop is the connection's writer, started by signalLocked when
// something is queued and none is running: it takes everything queued and
// writes it as few frames, then the conflated messages and gaps of dirty
// channels, and repeats until nothing is left; then it ends. Writes of a
// busy connection are at least Config.WriteCoalesce apart, so that what
// arrives meanwhile shares the next frame and syscall. After a close request
// or a write error it closes the transport and writerDone and ends for good.
//
// The work is split into small functions so that the stack under the write
// syscall fits the 2 KiB a new goroutine starts with: a writer is started
// per burst, and growing its stack each time cost ~10 % of the fan-out CPU.
func (c *conn) writeLoop() {
	final := true
	defer func() {
		if final {
			c.endWriter(recover())
		}
	}()
	final = c.writeRun()
}

// writeRun writes until nothing is queued (false) or the connection ends (true).
func (c *conn) writeRun() bool {
	var w writeJob
	for {
		if !w.lagged { // catching up is written at once: its batches are full already
			c.coalesceWait()
		}
		if !c.take(&w) {
			return false
		}
		n, err := c.flush(w.batch)
		if err != nil {
			if w.closing || !errors.Is(err, os.ErrDeadlineExceeded) {
				return true
			}
			// The client took nothing for WriteTimeout: a slow consumer.
			// The transport kept the rest of the frame it was writing;
			// the rest of the batch, a gap per lagging channel and the
			// close follow, if the client reads them in time.
			c.slowClose("slow consumer: write timeout")
			if _, err := c.flush(w.batch[n:]); err != nil {
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
	}
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

// coalesceWait sleeps until WriteCoalesce has passed since the last write.
func (c *conn) coalesceWait() {
	if d := c.hub.cfg.WriteCoalesce; d > 0 && !c.lastWrite.IsZero() {
		if wait := d - c.hub.cfg.Now().Sub(c.lastWrite); wait > 0 {
			time.Sleep(wait)
		}
	}
}

// take moves what is queued into w, then reads the lagging channels' ticks
// from their rings (or, closing as a slow consumer, their gaps); with
// nothing to do it marks the writer stopped and returns false. A
// connection that lost ticks and is still behind MaxLag later is closed
// here as a slow consumer.
func (c *conn) take(w *writeJob) bool {
	c.mu.Lock()
	if c.holding && !c.closing || len(c.q) == 0 && len(c.dirty) == 0 && !c.pingDue && !c.closing {
		c.writing = false // on holding, subscribe's release starts a writer again
		if cap(c.spare) > maxSpare {
			c.spare = nil
		}
		if cap(c.q) > maxSpare {
			c.q = nil
		}
		c.mu.Unlock()
		return false
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
	return true
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
	done := 0
	for rest := batch; len(rest) > 0; {
		n, size := 0, 0
		for n < len(rest) && (n == 0 || size+len(rest[n]) <= maxFrameBytes) {
			size += len(rest[n]) + 1
			n++
		}
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
	if len(batch) > 0 {
		c.lastWrite = c.hub.cfg.Now()
	}
	return done, nil
}

// recycle ends a written batch: its bytes no longer count, and its slice is
// kept as the next queue unless it is large (a burst).
func (c *conn) recycle(batch [][]byte) {
	clear(batch)
	c.mu.Lock()
	c.inflight = 0
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
