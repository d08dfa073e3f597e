package gateway

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// conn is one client connection: a reader goroutine, a writer goroutine
// that exists only while there is something to write, and between them one
// bounded queue guarded by mu. An idle connection therefore holds one
// goroutine (the reader, blocked in a read) and no write buffer.
type conn struct {
	hub    *Hub
	t      transport
	userID int64 // 0: not authenticated
	// pingSlot is the group this connection is pinged with (guarded by
	// the hub's connsMu).
	pingSlot uint8

	readerDone chan struct{} // closed when the read loop has returned
	writerDone chan struct{} // closed when the last writer has returned (after closing)

	mu      sync.Mutex // a leaf: nothing else is locked while it is held
	q       [][]byte   // ordered messages for the writer; see push*
	dirty   []*subscription
	writing bool // a writer goroutine is running (it re-checks the queue before it ends)
	// holding: a subscribe is registering channels whose ack is already
	// queued; nothing is written until they are, since a client may act on
	// the ack (publish, fire an alert) and must then get what follows.
	holding     bool
	pingDue     bool
	closing     bool // the writer sends closeCode (if any) after this batch, then ends
	closeCode   int
	closeReason string
	spare       [][]byte  // the previous batch, reused as the next queue
	lastWrite   time.Time // writer only: when the last batch was written

	// reader only
	subs    []*subscription // a slice, not a map: most connections hold one or a few
	limiter *rate.Limiter
	strikes int
}

// subscription is one channel of one connection.
type subscription struct {
	c    *conn
	ch   Channel
	name string
	idx  int // position in its topic's subList, guarded by that list's lock

	// guarded by c.mu
	pending []byte // conflated message (candle, quotes) not yet written
	gapFrom uint64 // ticks dropped for this channel, not yet reported
	gapTo   uint64 // 0: no gap
	queued  bool   // in c.dirty
	dead    bool   // unsubscribed
	// after: ticks with seq <= after are not delivered. A client resuming
	// with since on a hub that is behind the one it left has seen them.
	after uint64
}

func newConn(h *Hub, userID int64) *conn {
	return &conn{
		hub:        h,
		userID:     userID,
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
		limiter:    rate.NewLimiter(rate.Limit(h.cfg.MessageRate), h.cfg.MessageBurst),
	}
}

// signalLocked makes sure a writer will see what was just queued: it starts
// one unless one is running (a running writer re-checks the queue under
// c.mu before it ends). Caller holds c.mu.
func (c *conn) signalLocked() {
	if !c.writing && !c.holding {
		c.writing = true
		go c.writeLoop()
	}
}

func (c *conn) markDirtyLocked(s *subscription) {
	if !s.queued {
		s.queued = true
		c.dirty = append(c.dirty, s)
	}
}

// maxFrameBytes bounds the frames the writer coalesces queued messages into.
const maxFrameBytes = 64 << 10

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

// close asks the writer to flush what is queued, send a close frame with
// code (none when code is 0) and end. The first request wins.
func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	c.closeLocked(code, reason)
	c.mu.Unlock()
}

func (c *conn) closeLocked(code int, reason string) {
	if c.closing {
		return
	}
	c.closing = true
	c.closeCode, c.closeReason = code, reason
	c.signalLocked()
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

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
			if err := c.t.WritePing(time.Now().Add(c.hub.cfg.WriteTimeout)); err != nil {
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
		if wait := d - time.Since(c.lastWrite); wait > 0 {
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
		if err := c.t.WriteBatch(rest[:n], time.Now().Add(timeout)); err != nil {
			c.hub.log.Debug("websocket write failed", "err", err)
			return false
		}
		c.hub.met.sent.Add(float64(n))
		c.hub.met.frames.Inc()
		rest = rest[n:]
	}
	if len(batch) > 0 {
		c.lastWrite = time.Now()
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
	_ = c.t.WriteClose(code, reason, time.Now().Add(c.hub.cfg.WriteTimeout))
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

// readLoop reads client messages until the connection fails or closes.
// It only waits here; each message is read and handled on a short-lived
// goroutine (client messages are rate-limited, so this costs little). The
// reader's stack thus never grows past the runtime's smallest (2 KiB):
// the runtime never shrinks a stack below four times what a goroutine
// blocked in a socket wait uses, so a reader that once ran the JSON
// encoding of a snapshot would hold 4–8 KiB for the life of the connection.
func (c *conn) readLoop() {
	cfg := &c.hub.cfg
	more := make(chan bool, 1)
	for {
		_ = c.t.SetReadDeadline(time.Now().Add(2 * cfg.PingInterval))
		if err := c.t.WaitReadable(); err != nil {
			return
		}
		go c.readOne(more)
		if !<-more {
			return
		}
	}
}

// readOne reads one message and handles it; it sends whether the
// connection goes on.
func (c *conn) readOne(more chan<- bool) {
	ok := false
	defer func() {
		if p := recover(); p != nil {
			c.hub.log.Error("websocket reader panic", "panic", fmt.Sprint(p))
			ok = false
		}
		more <- ok
	}()
	cfg := &c.hub.cfg
	b, err := c.t.ReadMessage(cfg.MaxMessageBytes)
	if errors.Is(err, errTooLarge) {
		if !c.isClosing() {
			c.reply(encodeError(0, false, CodeMessageTooLarge, fmt.Sprintf("messages are limited to %d bytes", cfg.MaxMessageBytes)))
			c.close(closePolicy, "message too large")
		}
		ok = true
		return
	}
	if err != nil {
		return
	}
	ok = true
	if b == nil {
		return // control frames only (a pong): back to waiting
	}
	if c.isClosing() {
		return // draining or closing: wait for the client's close
	}
	c.handle(b)
}

func (c *conn) handle(b []byte) {
	m, err := ParseClientMessage(b)
	if !c.limiter.Allow() {
		c.reply(encodeError(m.ID, m.HasID, CodeRateLimited, fmt.Sprintf("more than %g messages a second", c.hub.cfg.MessageRate)))
		c.strike()
		return
	}
	if err != nil {
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			pe = &ProtocolError{Code: CodeInvalidRequest, Message: err.Error()}
		}
		c.reply(encodeError(m.ID, m.HasID, pe.Code, pe.Message))
		return
	}
	switch m.Op {
	case OpPing:
		c.reply(encodeReply("pong", m.ID, m.HasID))
	case OpSubscribe:
		c.subscribe(&m)
	case OpUnsubscribe:
		for _, ch := range m.Channels {
			if i := c.findSub(ch); i >= 0 {
				c.hub.unregister(c.subs[i])
				c.subs = slices.Delete(c.subs, i, i+1)
			}
		}
		c.reply(encodeReply("ack", m.ID, m.HasID))
	}
}

// strike counts a limit violation; MaxStrikes of them close the connection.
func (c *conn) strike() {
	c.strikes++
	if c.strikes >= c.hub.cfg.MaxStrikes {
		c.close(closePolicy, "limits exceeded")
	}
}

func (c *conn) subscribe(m *ClientMessage) {
	var add []Channel
	for _, ch := range m.Channels {
		if c.findSub(ch) >= 0 || slices.Contains(add, ch) {
			continue // already subscribed: nothing to do
		}
		if ch.Kind == KindAlerts && c.userID == 0 {
			c.reply(encodeError(m.ID, m.HasID, CodeUnauthorized, "alerts needs authentication (?token= or a session cookie)"))
			return
		}
		add = append(add, ch)
	}
	if max := c.hub.cfg.MaxSubscriptions; len(c.subs)+len(add) > max {
		c.reply(encodeError(m.ID, m.HasID, CodeTooManySubscriptions, fmt.Sprintf("at most %d subscriptions per connection", max)))
		c.strike()
		return
	}
	// The ack goes first (then each channel's snapshot, then live data),
	// but only out once every channel is registered.
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
	defer func() { // also when a registration panics: the writer must run to close
		c.mu.Lock()
		c.holding = false
		c.signalLocked()
		c.mu.Unlock()
	}()
	c.reply(encodeReply("ack", m.ID, m.HasID))
	for _, ch := range add {
		s := &subscription{c: c, ch: ch, name: ch.String(), idx: -1}
		c.subs = append(c.subs, s)
		since, resume := m.Since[ch]
		c.hub.register(s, since, resume)
	}
}

// unsubscribeAll removes every subscription; called once the reader is done.
func (c *conn) unsubscribeAll() {
	for _, s := range c.subs {
		c.hub.unregister(s)
	}
	c.subs = nil
}

// findSub returns the index of ch in c.subs, or -1.
func (c *conn) findSub(ch Channel) int {
	for i, s := range c.subs {
		if s.ch == ch {
			return i
		}
	}
	return -1
}
