package gateway

// The writer pool: a few goroutines that write every connection's frames
// without waiting on any socket (see the package doc, Writers).

import (
	"sync"
	"time"

	"github.com/findash/findash/internal/uring"
)

// writerShard is one writer of the pool and its ready queue: the
// connections of the shard with something to write, in order, each at most
// once (conn.writing is set while a connection is queued here or being
// written), so the queue is bounded by the shard's connections. A
// goroutine drains it while it is not empty and ends when it is: an idle
// hub holds no writer goroutine, and a busy one starts one per shard per
// burst, not per delivery.
type writerShard struct {
	hub *Hub
	met *metrics
	// ring (a slot of Hub.rings) is the shard's io_uring ring, set up at
	// its first pass over several connections; ringOff: write(2) only
	// (Config.IOURingOff, or no io_uring here). Both, and sb, are the
	// running goroutine's alone.
	ring    **uring.Ring
	ringOff bool
	// ringAfter: the last io_uring_setup failed for want of descriptors
	// or memory (a connection flood), so the shard writes with write(2)
	// and sets a ring up again no sooner than this.
	ringAfter time.Time
	sb        *sendBatch
	orphans   [][]byte   // frames a failed ring may still read (sendBatch.finish)
	mu        sync.Mutex // a leaf, taken after conn.mu
	ready     []*conn
	spare     []*conn // the last drained queue, reused
	running   bool    // a goroutine drains ready (it re-checks it before it ends)
}

// maxReadySpare is the largest drained queue a shard keeps for reuse (a
// burst to more connections lets it go).
const maxReadySpare = 4096

// enqueueLocked hands c to its shard's writer. Caller holds c.mu and has
// set c.writing.
func (c *conn) enqueueLocked() {
	w := &c.hub.writers[c.wshard]
	w.mu.Lock()
	w.ready = append(w.ready, c)
	start := !w.running
	w.running = true
	w.mu.Unlock()
	if start {
		go w.run()
	}
}

// run writes each queued connection once, in order, until the queue is
// empty. A connection that has more to write by the time its round ends
// is queued again behind the others: what it was sent meanwhile shares its
// next frame, so under load frames carry more messages without any timer.
func (w *writerShard) run() {
	for {
		w.mu.Lock()
		batch := w.ready
		if len(batch) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.ready, w.spare = w.spare[:0], nil
		w.mu.Unlock()
		var n writeCount
		if r := w.sendRing(len(batch)); r != nil {
			w.writeBatched(batch, r, &n)
		} else {
			for i, c := range batch {
				batch[i] = nil
				c.writeRound(&n)
			}
		}
		n.report(w.met)
		if cap(batch) <= maxReadySpare {
			w.mu.Lock()
			if w.spare == nil {
				w.spare = batch[:0]
			}
			w.mu.Unlock()
		}
	}
}

// writeRound is one round of the pool's writer for c: it takes what is
// queued, with a ping due, and writes it without waiting on the socket.
// Anything that might wait — a socket that does not take the whole frame
// (or ping), a transport that cannot write without waiting, a close, a
// lagging channel (which may read the event log), a busy connection
// (written less than WriteCoalesce ago: it waits for the rest of that) —
// is handed to a goroutine of c's own (writeLoop), which writes until c's
// queue is empty, waiting as it needs.
func (c *conn) writeRound(count *writeCount) {
	defer c.recoverWriter()
	var w writeJob
	if !c.startRound(&w) {
		return
	}
	now := c.hub.cfg.Now()
	if c.writeFrames(&w, now.Add(c.hub.cfg.WriteTimeout), count) {
		c.endRound(&w, now)
	}
}

// recoverWriter ends c's writer on a panic of its round (deferred).
func (c *conn) recoverWriter() {
	if p := recover(); p != nil {
		c.endWriter(p)
	}
}

// startRound takes c's round into w; false when there is nothing for the
// pool to write (nothing queued, or c's own writer now has it).
func (c *conn) startRound(w *writeJob) bool {
	switch c.take(w, true) {
	case takeNone:
		return false
	case takeDedicated:
		go c.writeLoop(nil, 0, false)
		return false
	}
	return true
}

// writeFrames writes w's batch, a frame at a time, and its ping; false
// when the round ended early (handed over, or the connection ended).
func (c *conn) writeFrames(w *writeJob, deadline time.Time, count *writeCount) bool {
	batch, ping := w.batch, w.ping
	// A ping goes in the write of the batch's last frame (alone when
	// nothing else is queued): pinging 10,000 connections every 30 s
	// started 333 connections' own writers a second, each growing its
	// stack and setting a write deadline.
	for done := 0; done < len(batch) || ping; {
		n := 0
		if done < len(batch) {
			n = frameLen(batch[done:])
		}
		last := done+n == len(batch)
		res, err := c.t.WriteBatchNow(batch[done:done+n], ping && last, deadline)
		if !c.wrote(batch, done, n, ping, last, res, err, count) {
			return false
		}
		done += n
		ping = ping && !last
	}
	return true
}

// wrote accounts for the write of the frame of batch[done:done+n] (with
// the ping, when ping and last) that returned res and err; false when the
// round ends here: the rest is handed to c's own writer, or the
// transport broke and the connection ends, as with its own writer.
func (c *conn) wrote(batch [][]byte, done, n int, ping, last bool, res writeResult, err error, count *writeCount) bool {
	switch {
	case res == writeNotNow:
		c.handOver(batch, done, ping)
		return false
	case err != nil:
		c.hub.log.Debug("websocket write failed", "err", err)
		c.endWriter(nil)
		return false
	}
	if n > 0 {
		count.msgs += n
		count.frames++
	}
	if res == writeKept {
		c.handOver(batch, done+n, ping && !last)
		return false
	}
	return true
}

// endRound ends a round written whole, begun at now: c is queued again if
// it was sent more meanwhile, else its writer stops.
func (c *conn) endRound(w *writeJob, now time.Time) {
	batch := w.batch
	clear(batch)
	c.mu.Lock()
	c.inflight = 0
	c.wroteLocked(now.UnixNano()) // the round's start: one clock read per round
	if cap(batch) <= maxKeep {
		c.spare = batch[:0]
	}
	if c.hasWorkLocked() {
		c.enqueueLocked() // behind the others: what comes meanwhile joins this frame
	} else {
		c.idleLocked()
	}
	c.mu.Unlock()
}

// handOver gives the rest of a round the pool's writer could not write
// without waiting (a frame's end the transport kept, batch[done:], and a
// ping not yet written) to the connection's own writer. It always says
// handed: a ping-only round's batch is often nil (take leaves c.q nil
// until the next message), and the kept end of its ping must still go.
func (c *conn) handOver(batch [][]byte, done int, ping bool) {
	if ping {
		c.mu.Lock()
		c.pingDue = true // the own writer's next take sends it
		c.mu.Unlock()
	}
	go c.writeLoop(batch, done, true)
}

// writeCount is what a pool writer wrote in one pass over its ready queue,
// added to the metrics once per pass: two counter updates per delivery on
// counters every writer shares were a cache line passed between cores.
type writeCount struct{ msgs, frames int }

func (n *writeCount) report(m *metrics) {
	if n.frames > 0 {
		m.sent.Add(float64(n.msgs))
		m.frames.Add(float64(n.frames))
	}
}

// frameLen is how many of batch's messages go in its first frame: up to
// about maxFrameBytes (no frame a client must buffer whole at megabytes),
// at least one.
func frameLen(batch [][]byte) int {
	n, size := 0, 0
	for n < len(batch) && (n == 0 || size+len(batch[n]) <= maxFrameBytes) {
		size += len(batch[n]) + 1
		n++
	}
	return n
}

// writeResult is what WriteBatchNow did with a frame.
type writeResult uint8

const (
	writeDone   writeResult = iota // written whole (or the transport failed)
	writeKept                      // partly written: the transport keeps the rest, and its next write finishes it first
	writeNotNow                    // nothing written: the socket is full, or the transport cannot write without waiting
)
