package gateway

// One client connection: its state and the signals between reader and writer.

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// conn is one client connection: a reader goroutine, a writer (a round of
// the pool's, or a goroutine of its own while a write may wait) only while
// there is something to write, and between them one bounded queue guarded
// by mu. An idle connection therefore holds one goroutine (the reader,
// blocked in a read) and no write buffer.
type conn struct {
	hub    *Hub
	t      transport
	userID int64 // 0: not authenticated
	// pingSlot is the group this connection is pinged with (guarded by
	// the hub's connsMu).
	pingSlot uint8
	// slow (guarded by mu): closing as a slow consumer, lagging channels
	// get a gap first. Here it fills pingSlot's padding.
	slow bool
	// wshard is the writer of the pool this connection is written by.
	wshard uint8
	// quick (guarded by mu): the last two writes were less than twice
	// WriteCoalesce apart; only then is a connection busy (busyLocked).
	// Here it fills the padding before readerDone.
	quick bool

	readerDone chan struct{} // closed when the read loop has returned
	writerDone chan struct{} // closed when the last writer has returned (after closing)

	mu sync.Mutex // a leaf: nothing else is locked while it is held
	// q holds ordered messages for the writer (see push*); qBytes counts
	// them (each message's bytes plus its slice header) and inflight the
	// batch the writer is writing. Their sum is bounded by
	// Config.SendQueueBytes (at most 64 MiB) for ticks and alerts, twice
	// that for replies. The fields are sized to keep conn in the 240-byte
	// size class: it is the idle cost of every connection.
	q        [][]byte
	qBytes   int32
	inflight int32
	dirty    []*subscription
	writing  bool // queued to the pool, or a writer runs (it re-checks the queue before it ends)
	// holding: a subscribe is registering channels whose ack is already
	// queued; nothing is written until they are, since a client may act on
	// the ack (publish, fire an alert) and must then get what follows.
	holding     bool
	pingDue     bool
	closing     bool  // the writer sends closeCode (if any) after this batch, then ends
	strikes     int32 // reader only: limit errors so far
	closeCode   int32
	lagging     int32 // ticks channels reading from their replay ring (behind)
	closeReason string
	// lost is set while the connection is in an episode of having fallen
	// out of a replay ring (see lostLocked); nil otherwise.
	lost  *lostEpisode
	spare [][]byte // the previous batch, reused as the next queue
	// lastWrite (guarded by mu) is when the last batch was written (Unix
	// ns of Config.Now; 0: never): a quick connection written less than
	// WriteCoalesce ago is busy, and waits for the rest of it.
	lastWrite int64

	// reader only
	subs    []*subscription // a slice, not a map: most connections hold one or a few
	limiter *rate.Limiter
}

// lostEpisode is when a connection first fell out of a replay ring (a
// lagging channel's ring no longer held what it needed: read from the log,
// or a gap) and when it last did. A connection still lagging MaxLag after
// first is a slow consumer.
type lostEpisode struct {
	first, last time.Time
}

// subscription is one channel of one connection.
type subscription struct {
	c    *conn
	ch   Channel
	name string
	idx  int // position in its topic's subList, guarded by that list's lock

	// topic is the symbol's topic (ticks channels), which holds s in its
	// list, and so stays in its shard, while s is registered.
	topic *symbolTopic

	// guarded by c.mu
	pending []byte // conflated message (candle, quotes) not yet written
	queued  bool   // in c.dirty
	dead    bool   // unsubscribed
	// cursor (ticks) is the newest seq queued for the client, or the one it
	// resumed after: ticks up to it are never queued again. lagging: the
	// client fell behind (its queue was full) or is being replayed to, and
	// the writer reads the ticks after cursor from the symbol's replay ring
	// as the queue drains, instead of the publisher queueing them.
	cursor  uint64
	lagging bool
}

func newConn(h *Hub, userID int64) *conn {
	return &conn{
		hub:        h,
		userID:     userID,
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
		limiter:    rate.NewLimiter(rate.Limit(h.cfg.MessageRate), h.cfg.MessageBurst),
		wshard:     uint8((h.nextWriter.Add(1) - 1) % uint32(len(h.writers))),
	}
}

// signalLocked makes sure a writer will see what was just queued: it puts
// c on its pool writer's ready queue unless c is queued there or a writer
// runs (a running writer re-checks the queue under c.mu before it ends).
// Caller holds c.mu.
func (c *conn) signalLocked() {
	if !c.writing && !c.holding {
		c.writing = true
		c.enqueueLocked()
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
	c.closeCode, c.closeReason = int32(code), reason
	c.signalLocked()
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}
