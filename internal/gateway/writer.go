package gateway

// A connection's writer goroutine: coalescing the queue into frames.

import (
	"fmt"
	"time"
)

// maxFrameBytes bounds the frames the writer coalesces queued messages into.
const maxFrameBytes = 64 << 10

// maxSpare is the largest queue slice kept for reuse while a connection's
// writer is idle; a larger one (a burst) is let go, so that an idle
// connection holds little memory.
const maxSpare = 64

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
		c.coalesceWait()
		if !c.take(&w) {
			return false
		}
		if !c.flush(w.batch) {
			return true
		}
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

// take moves what is queued into w; with nothing to do it marks the writer
// stopped and returns false.
func (c *conn) take(w *writeJob) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holding && !c.closing || len(c.q) == 0 && len(c.dirty) == 0 && !c.pingDue && !c.closing {
		c.writing = false // on holding, subscribe's release starts a writer again
		if cap(c.spare) > maxSpare {
			c.spare = nil
		}
		if cap(c.q) > maxSpare {
			c.q = nil
		}
		return false
	}
	batch := c.q
	c.q = c.spare
	c.spare = nil
	for _, s := range c.dirty {
		s.queued = false
		if s.dead {
			continue
		}
		if s.gapTo != 0 {
			batch = append(batch, encodeGap(s.name, s.gapFrom, s.gapTo))
			c.hub.met.gaps.Inc()
			s.gapFrom, s.gapTo = 0, 0
		}
		if s.pending != nil {
			batch = append(batch, s.pending)
			s.pending = nil
		}
	}
	clear(c.dirty)
	c.dirty = c.dirty[:0]
	*w = writeJob{batch: batch, ping: c.pingDue, closing: c.closing, code: c.closeCode, reason: c.closeReason}
	c.pingDue = false
	return true
}

// flush writes batch coalesced into frames of about maxFrameBytes (one
// write each, and no frame a client must buffer whole at megabytes), then
// keeps the slice for reuse. It reports false on a write error.
func (c *conn) flush(batch [][]byte) bool {
	timeout := c.hub.cfg.WriteTimeout
	for rest := batch; len(rest) > 0; {
		n, size := 0, 0
		for n < len(rest) && (n == 0 || size+len(rest[n]) <= maxFrameBytes) {
			size += len(rest[n]) + 1
			n++
		}
		if err := c.t.WriteBatch(rest[:n], c.hub.cfg.Now().Add(timeout)); err != nil {
			c.hub.log.Debug("websocket write failed", "err", err)
			return false
		}
		c.hub.met.sent.Add(float64(n))
		c.hub.met.frames.Inc()
		rest = rest[n:]
	}
	if len(batch) > 0 {
		c.lastWrite = c.hub.cfg.Now()
	}
	clear(batch)
	if cap(batch) <= 2*c.hub.cfg.SendQueue {
		c.mu.Lock()
		c.spare = batch[:0] // reused; a replay burst's larger slice is let go
		c.mu.Unlock()
	}
	return true
}

// sendClose sends a close frame with code (none when 0) and lets the client
// answer it before the TCP connection goes.
func (c *conn) sendClose(code int, reason string) {
	if code == 0 {
		return
	}
	_ = c.t.WriteClose(code, reason, c.hub.cfg.Now().Add(c.hub.cfg.WriteTimeout))
	timer := time.NewTimer(time.Second)
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
	c.mu.Unlock()
	_ = c.t.Close()
	close(c.writerDone)
}
