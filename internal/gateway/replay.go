package gateway

// Replay: each symbol's ring of recent ticks and resuming a subscription with since.

import (
	"cmp"
	"slices"
)

// spanTicks is how many consecutive tick messages of one publish share one
// queue entry: a burst of 10,000 ticks takes 157 slots of a connection's
// queue rather than 10,000, so a client that keeps up is never cut by the
// size of the publisher's batches.
const spanTicks = 64

// tickSpan is a run of consecutive tick messages of one channel, encoded
// contiguously and joined by '\n', queued as one entry.
type tickSpan struct {
	first, last uint64 // seqs of its first and last tick
	n           int    // ticks in it
	msg         []byte
	// ticks are the span's ticks one by one (valid during a publish), for
	// a subscription that must start inside the span; nil when n is 1.
	ticks []ringEntry
	i0    int // index of its first tick in the publish's batch
}

type ringEntry struct {
	seq uint64
	at  int64 // arrival, Unix ns
	msg []byte
}

// push appends a tick message to the ring, evicting the oldest when full.
// Caller holds t.mu.
func (t *symbolTopic) push(seq uint64, at int64, msg []byte, limit int) {
	if t.n == len(t.ring) && len(t.ring) < limit {
		// grow (doubling, up to max), unrolling the ring to start at 0
		size := min(limit, max(4, 2*len(t.ring))) // small first: most symbols are quiet
		r := make([]ringEntry, size)
		for i := 0; i < t.n; i++ {
			r[i] = t.ring[(t.start+i)%len(t.ring)]
		}
		t.ring, t.start = r, 0
	}
	if t.n == len(t.ring) {
		t.evictOldest()
	}
	t.ring[(t.start+t.n)%len(t.ring)] = ringEntry{seq: seq, at: at, msg: msg}
	t.n++
	t.last = seq
}

func (t *symbolTopic) evictOldest() {
	e := &t.ring[t.start]
	t.floor = e.seq
	*e = ringEntry{}
	t.start = (t.start + 1) % len(t.ring)
	t.n--
}

// prune evicts entries that arrived before cutoff (Unix ns). Caller holds t.mu.
func (t *symbolTopic) prune(cutoff int64) {
	for t.n > 0 && t.ring[t.start].at < cutoff {
		t.evictOldest()
	}
	if t.n == 0 && t.ring != nil {
		t.ring, t.start = nil, 0 // a quiet symbol gives its memory back
	}
}

func (t *symbolTopic) entry(i int) *ringEntry { return &t.ring[(t.start+i)%len(t.ring)] }

// resume starts s, a ticks channel resumed after since, reading from t's
// ring: a gap for what t no longer holds (since < floor; with History the
// writer reads those ticks from the log instead), then the held ticks
// after since, read by the writer as the queue drains (see refill). A
// client that resumes ahead of t (it saw more on another instance) gets
// only the ticks after since. Caller holds t.mu.
func (h *Hub) resume(t *symbolTopic, s *subscription, since uint64) {
	t.prune(h.cfg.Now().UnixNano() - h.cfg.ReplayAge.Nanoseconds())
	if since < t.floor && h.cfg.History == nil {
		s.c.reply(encodeGap(s.name, since+1, t.floor))
		h.met.gaps.Inc()
		since = t.floor
	}
	c := s.c
	c.mu.Lock()
	s.cursor = since
	if since < t.last {
		c.startLaggingLocked(s)
	}
	c.mu.Unlock()
}

// refill appends to batch the ticks of s, a lagging channel, after
// s.cursor, as far as the queue's byte bound and quota (bytes) allow: from the topic's
// ring (the ring's own bytes, not copies), and what the ring no longer
// holds from History (encoded for this connection) or else as a gap. Either
// marks the connection as having fallen out of the ring (see lostLocked).
// Once s has every held tick it rejoins the live fan-out, under the
// topic's lock, so that no tick is missed or repeated. Called by the
// writer, holding no lock.
func (c *conn) refill(s *subscription, batch [][]byte, quota int) [][]byte {
	t := s.topic
	for tried := false; ; tried = true {
		t.mu.Lock()
		c.mu.Lock()
		if s.dead || !s.lagging || c.closing {
			c.mu.Unlock()
			t.mu.Unlock()
			return batch
		}
		// At most quota more than is queued and in flight now.
		limit := min(c.hub.cfg.SendQueueBytes, c.heldLocked()+quota)
		if s.cursor < t.floor {
			c.lostLocked()
			if c.hub.cfg.History != nil && !tried {
				after, floor, room := s.cursor, t.floor, limit-c.heldLocked()
				if room < tickBytes { // the next round reads it
					c.markDirtyLocked(s)
					c.mu.Unlock()
					t.mu.Unlock()
					return batch
				}
				c.mu.Unlock()
				t.mu.Unlock()
				var read bool
				if batch, read = c.readHistory(s, after, floor, room, batch); read {
					c.mu.Lock()
					c.markDirtyLocked(s) // the next round reads on
					c.mu.Unlock()
					return batch
				}
				continue // the log did not have them: a gap
			}
			gap := encodeGap(s.name, s.cursor+1, t.floor)
			batch = append(batch, gap)
			c.inflight += int32(len(gap) + entryBytes)
			c.hub.met.gaps.Inc()
			s.cursor = t.floor
		}
		k := t.firstAfter(s.cursor)
		for k < t.n {
			var run []byte
			if run, k = t.run(k, limit-c.heldLocked()-entryBytes); run == nil {
				break
			}
			batch = append(batch, run)
			c.inflight += int32(len(run) + entryBytes)
			s.cursor = t.entry(k - 1).seq
		}
		if k == t.n {
			c.stopLaggingLocked(s)
		} else {
			c.markDirtyLocked(s)
		}
		c.mu.Unlock()
		t.mu.Unlock()
		return batch
	}
}

// run returns the held ticks from position k on that are consecutive in one
// publish's buffer, as one slice of at most room bytes (and maxFrameBytes),
// and the position after them; nil when not even the first fits. Caller
// holds t.mu.
func (t *symbolTopic) run(k, room int) ([]byte, int) {
	e := t.entry(k)
	if len(e.msg) > room {
		return nil, k
	}
	room = min(room, maxFrameBytes)
	full, n := e.msg[:cap(e.msg)], len(e.msg)
	for k++; k < t.n; k++ {
		next := t.entry(k).msg
		end := n + 1 + len(next)
		if end > len(full) || end > room || full[n] != '\n' || &full[n+1] != &next[0] {
			break
		}
		n = end
	}
	return full[:n:n], k
}

// lostLocked notes that the connection fell out of a replay ring now. The
// first such moment starts an episode (c.lost) that lasts while the
// connection stays behind; one that starts lagging again more than MaxLag
// after its last loss starts afresh (startLaggingLocked). Caller holds c.mu.
func (c *conn) lostLocked() {
	now := c.hub.cfg.Now()
	if c.lost == nil {
		c.lost = &lostEpisode{first: now}
	}
	c.lost.last = now
}

// lagGap appends to batch a gap for the ticks of s, a lagging channel,
// that were published after s.cursor: the connection is closing as a slow
// consumer and will not get them. Called by the writer, holding no lock.
func (c *conn) lagGap(s *subscription, batch [][]byte) [][]byte {
	t := s.topic
	t.mu.Lock()
	defer t.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.dead || !s.lagging || t.last <= s.cursor {
		return batch
	}
	c.hub.met.gaps.Inc()
	gap := encodeGap(s.name, s.cursor+1, t.last)
	c.inflight += int32(len(gap) + entryBytes)
	s.cursor = t.last
	return append(batch, gap)
}

// firstAfter returns the position (0 to t.n) of the oldest held tick with
// a seq above after. The ring is in seq order and lies in at most two runs
// of t.ring: the head from start and the tail wrapped to the front.
// Caller holds t.mu.
func (t *symbolTopic) firstAfter(after uint64) int {
	head := t.ring[t.start:min(t.start+t.n, len(t.ring))]
	if i := searchAfter(head, after); i < len(head) {
		return i
	}
	tail := t.ring[:t.n-len(head)]
	return len(head) + searchAfter(tail, after)
}

// searchAfter returns the index of the first entry of run (in increasing
// seq order) with a seq above after, or len(run).
func searchAfter(run []ringEntry, after uint64) int {
	i, found := slices.BinarySearchFunc(run, after, func(e ringEntry, seq uint64) int {
		return cmp.Compare(e.seq, seq)
	})
	if found {
		i++ // seqs are unique: the next one is the first above
	}
	return i
}
