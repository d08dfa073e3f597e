package gateway

// One client connection: its state and the signals between reader and writer.

import (
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
