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
		size := min(limit, max(64, 2*len(t.ring)))
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
	if t.n == 0 && len(t.ring) > 64 {
		t.ring, t.start = nil, 0 // a quiet symbol gives its memory back
	}
}

func (t *symbolTopic) entry(i int) *ringEntry { return &t.ring[(t.start+i)%len(t.ring)] }

// replay queues the held ticks of t after since for s. Caller holds t.mu.
func (h *Hub) replay(t *symbolTopic, s *subscription, since uint64) {
	t.prune(h.cfg.Now().UnixNano() - h.cfg.ReplayAge.Nanoseconds())
	after := since
	if since < t.floor {
		s.c.reply(encodeGap(s.name, since+1, t.floor))
		h.met.gaps.Inc()
		after = t.floor
	}
	first := t.firstAfter(after)
	if first == t.n {
		return
	}
	// Join the held ticks into spans, as a publish does: a resume after a
	// long drop then takes a few queue slots, leaving room for the live
	// ticks that follow (one slot per tick overflowed the queue and cut the
	// resumed stream with a gap).
	size := 0
	for k := first; k < t.n; k++ {
		size += len(t.entry(k).msg) + 1
	}
	buf := make([]byte, 0, size)
	spans := t.spans[:0]
	for k := first; k < t.n; {
		end := min(k+spanTicks, t.n)
		start := len(buf)
		for j := k; j < end; j++ {
			if j > k {
				buf = append(buf, '\n')
			}
			buf = append(buf, t.entry(j).msg...)
		}
		spans = append(spans, tickSpan{first: t.entry(k).seq, last: t.entry(end - 1).seq, n: end - k, msg: buf[start:len(buf):len(buf)]})
		k = end
	}
	if d := s.c.pushTicks(s, spans, h.hardLimit); d > 0 {
		h.met.dropped.Add(float64(d))
	}
	clear(spans)
	t.spans = spans[:0]
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
