package gateway

// The writer pool's batched sends (decision 0087): a pass over the ready
// queue writes its connections' frames with one io_uring_enter per up to
// ringEntries connections instead of one write(2) each. Each frame is
// built and its result handled exactly as WriteBatchNow does (beginNow,
// finishNow); only the system call is shared.

import (
	"errors"
	"syscall"
	"time"

	"github.com/findash/findash/internal/uring"
)

// ringEntries is the most frames one io_uring_enter carries. A pass over
// more connections makes several; the descriptors of a batch are held
// open by nested RawConn.Write calls (~360 B of stack each), so it also
// bounds that depth: 32 fit the 16 KiB stack growHoldStack makes, the
// largest size the runtime caches per P (a pool writer is a goroutine per
// burst, whose stack is freed at its end).
const ringEntries = 32

// ringRetry is how long a writer whose ring could not be set up for want
// of descriptors or memory writes with write(2) before it tries again.
const ringRetry = time.Minute

// setupMayPass reports whether a failed io_uring setup may succeed later:
// out of descriptors or memory, not refused (no io_uring, seccomp,
// io_uring_disabled), which stays so for the process's life.
func setupMayPass(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.EAGAIN)
}

// growHoldStack grows a pool writer's stack to 16 KiB in one copy, before
// its first hold: growing 2 → 4 → 8 → 16 KiB in the recursion was four
// copies per burst (2 % of the server's CPU in a fan-out profile).
//
//go:noinline
func growHoldStack(i int) byte {
	var pad [12 << 10]byte // 12 KiB + the guard does not fit 8 KiB
	return pad[i]          // indexed by a parameter: the array stays in the frame
}

// sendItem is one connection's frame in a sendBatch.
type sendItem struct {
	sb      *sendBatch
	i       int
	c       *conn
	t       *wsTransport
	job     writeJob
	now     time.Time
	nw      *nowWrite // the frame, t.wmu held (beginNow)
	fd      int
	entered bool  // RawConn.Write called fn: the descriptor is held
	rawErr  error // RawConn.Write failed before fn (closed, deadline passed)
	// res and err are finishNow's (written: it returned); done: the
	// round was accounted for (finishRound ran, or recoverPass ended it).
	res     writeResult
	err     error
	written bool
	done    bool
	op      int // its index in sendBatch.ops
	fn      func(fd uintptr) bool
}

// sendBatch is a writer shard's scratch for its batched sends, reused
// from pass to pass.
type sendBatch struct {
	items []sendItem // len: the frames begun; cap ringEntries
	rest  []*conn    // the pass's connections not begun yet (recoverPass writes them)
	ops   []uring.Op
	ring  *uring.Ring
	sent  bool  // the last batch went to the ring
	err   error // the ring's failure
}

func newSendBatch() *sendBatch {
	sb := &sendBatch{items: make([]sendItem, ringEntries), ops: make([]uring.Op, 0, ringEntries)}
	for i := range sb.items {
		it := &sb.items[i]
		it.sb, it.i = sb, i
		it.fn = it.enter // bound once: holding a descriptor allocates nothing
	}
	sb.items = sb.items[:0]
	return sb
}

// sendRing returns w's io_uring ring, setting it up at the first pass with more
// than one connection; nil when the pass writes with write(2): one
// connection, io_uring off (Config.IOURingOff), or not available here.
func (w *writerShard) sendRing(conns int) *uring.Ring {
	if conns < 2 || w.ringOff {
		return nil
	}
	if r := *w.ring; r != nil {
		return r
	}
	if !w.ringAfter.IsZero() && w.hub.cfg.Now().Before(w.ringAfter) {
		return nil
	}
	r, err := uring.New(ringEntries)
	if err != nil {
		if setupMayPass(err) {
			w.ringAfter = w.hub.cfg.Now().Add(ringRetry)
			w.hub.log.Warn("websocket writes use write(2) for now: io_uring setup failed", "err", err, "retry_in", ringRetry)
			return nil
		}
		w.ringOff = true
		w.hub.ringLog.Do(func() {
			w.hub.log.Info("websocket writes use write(2): io_uring is not available", "err", err)
		})
		return nil
	}
	*w.ring = r
	w.sb = newSendBatch()
	w.met.uringWriters.Inc()
	return r
}

// writeBatched is run's pass over batch with the ring r: the frames of up
// to ringEntries connections at a time go in one io_uring_enter; a
// connection whose round cannot be one frame written now (several frames,
// a transport without a socket) is written as writeRound does.
func (w *writerShard) writeBatched(batch []*conn, r *uring.Ring, count *writeCount) {
	sb := w.sb
	growHoldStack(len(batch) & 1)
	defer sb.recoverPass(count)
	for i := 0; i < len(batch); {
		for ; i < len(batch) && len(sb.items) < ringEntries; i++ {
			c := batch[i]
			batch[i] = nil
			sb.begin(c, count) // recovers a panic of its own round
		}
		sb.rest = batch[i:]
		if len(sb.items) == 0 {
			continue
		}
		sb.ring = r
		sb.hold(0)
		if sb.sent {
			w.met.sendBatches.Inc()
		}
		failed := sb.err
		sb.finish(count, &w.orphans)
		if failed != nil {
			w.hub.log.Error("websocket writes go back to write(2): io_uring failed", "err", failed)
			r.Close()
			*w.ring, w.ringOff = nil, true
			w.met.uringWriters.Dec()
			for ; i < len(batch); i++ {
				c := batch[i]
				batch[i] = nil
				c.writeRound(count)
			}
			sb.rest = nil
			return
		}
	}
	sb.rest = nil
}

// recoverPass handles a panic of a pass outside a connection's own round
// (holding, sending, finishing), as a panic in writeRound ends its
// connection: a frame begun and not finished ends its connection (its
// transport's wmu released); a frame finished has its round accounted for;
// the connections not begun yet are written one by one. Every connection
// of the pass thus leaves it written, handed over or ended: none is left
// marked writing with no writer.
func (sb *sendBatch) recoverPass(count *writeCount) {
	p := recover()
	if p == nil {
		return
	}
	for i := range sb.items {
		it := &sb.items[i]
		if it.done {
			continue
		}
		it.done = true
		switch {
		case it.nw != nil: // never finished: its wmu is held
			nw := it.nw
			it.nw = nil
			it.t.finishNow(nw, errWriterPanic)
			it.c.endWriter(p)
		case it.written:
			it.finishRound(it.res, it.err, count)
		default: // finishNow itself panicked (it released the wmu)
			it.c.endWriter(p)
		}
	}
	rest := sb.rest
	sb.reset()
	for i, c := range rest {
		rest[i] = nil
		c.writeRound(count)
	}
}

// begin starts c's round: one frame written now joins the batch (its
// transport's wmu held); any other round is written, or handed over, as
// writeRound does.
func (sb *sendBatch) begin(c *conn, count *writeCount) {
	defer c.recoverWriter()
	var job writeJob
	if !c.startRound(&job) {
		return
	}
	now := c.hub.cfg.Now()
	deadline := now.Add(c.hub.cfg.WriteTimeout)
	t, ok := c.t.(*wsTransport)
	if !ok || len(job.batch) == 0 && !job.ping || frameLen(job.batch) < len(job.batch) {
		if c.writeFrames(&job, deadline, count) {
			c.endRound(&job, now)
		}
		return
	}
	nw, res, err := t.beginNow(job.batch, job.ping, deadline)
	if nw == nil {
		if c.wrote(job.batch, 0, len(job.batch), job.ping, true, res, err, count) {
			c.endRound(&job, now)
		}
		return
	}
	sb.items = sb.items[:len(sb.items)+1]
	it := &sb.items[len(sb.items)-1]
	it.c, it.t, it.job, it.now, it.nw = c, t, job, now, nw
}

// hold holds the descriptors of items[i:] open, each inside its
// RawConn.Write (as WriteBatchNow's write is), and sends the batch from
// the innermost: a connection closed meanwhile cannot have its descriptor
// reused by another before the kernel has its file. An item whose
// RawConn.Write fails without calling fn sends nothing.
func (sb *sendBatch) hold(i int) {
	for ; i < len(sb.items); i++ {
		it := &sb.items[i]
		err := it.t.raw.Write(it.fn)
		if it.entered {
			return // enter held the rest and sent the batch
		}
		it.rawErr = err
	}
	sb.send()
}

// enter is RawConn.Write's fn for an item: with its descriptor held it
// holds the next items' and sends.
func (it *sendItem) enter(fd uintptr) bool {
	it.entered, it.fd = true, int(fd)
	it.sb.hold(it.i + 1)
	return true // never wait for the socket: finishNow hands the rest over
}

// send writes the held items' frames with one io_uring_enter and sets
// each frame's result as its write(2) would have.
func (sb *sendBatch) send() {
	ops, last := sb.ops[:0], -1
	for i := range sb.items {
		it := &sb.items[i]
		if it.entered {
			it.op, last = len(ops), i
			ops = append(ops, uring.Op{FD: it.fd, Buf: it.nw.b})
		}
	}
	sb.ops = ops
	switch len(ops) {
	case 0:
		return
	case 1: // one io_uring_enter for one send costs more than write(2)
		it := &sb.items[last]
		it.nw.write(uintptr(it.fd))
		return
	}
	sb.err = sb.ring.Send(ops)
	sb.sent = sb.err == nil
	for i := range sb.items {
		it := &sb.items[i]
		if it.entered {
			op := &ops[it.op]
			it.nw.n, it.nw.err = op.N, op.Err
		}
	}
}

// finish ends every item's write (finishNow releases its wmu), then
// accounts for each round as writeRound does, and empties the batch. A
// frame whose send's fate is unknown (the ring failed) may still be read
// by the kernel: its buffer goes to orphans, never back to the pool.
func (sb *sendBatch) finish(count *writeCount, orphans *[][]byte) {
	for i := range sb.items {
		it := &sb.items[i]
		nw := it.nw
		it.nw = nil // before finishNow: it releases the wmu whatever happens
		if nw.err == uring.ErrUnknown {
			*orphans = append(*orphans, nw.b)
			nw.b = nil
		}
		it.res, it.err = it.t.finishNow(nw, it.rawErr)
		it.written = true
	}
	for i := range sb.items {
		it := &sb.items[i]
		it.done = true
		it.finishRound(it.res, it.err, count)
	}
	sb.reset()
}

// reset empties the batch for the next chunk.
func (sb *sendBatch) reset() {
	for i := range sb.items {
		sb.items[i] = sendItem{sb: sb, i: i, fn: sb.items[i].fn}
	}
	clear(sb.ops[:cap(sb.ops)])
	sb.items, sb.ops, sb.sent, sb.err = sb.items[:0], sb.ops[:0], false, nil
}

func (it *sendItem) finishRound(res writeResult, err error, count *writeCount) {
	c := it.c
	defer c.recoverWriter()
	if c.wrote(it.job.batch, 0, len(it.job.batch), it.job.ping, true, res, err, count) {
		c.endRound(&it.job, it.now)
	}
}

// errWriterPanic ends the transports of a batch whose pass panicked.
var errWriterPanic = errors.New("websocket writer panicked")
