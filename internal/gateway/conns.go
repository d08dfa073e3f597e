package gateway

// The hub's set of connections: adding, removing, pinging and draining them.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// pingSlots is how many groups the connections are pinged in, one group
// every PingInterval/pingSlots. Pinging every connection at the same
// moment made a burst of one write per connection (and a pong read from
// each) every 30 s: with 17,000 connections per instance and 50,000 on the
// machine it held tick deliveries up for seconds (docs/benchmarks/stages.md).
const pingSlots = 16

// pingSlot pings the connections of one slot: each connection is pinged
// once per PingInterval, and the pings of all spread over it.
func (h *Hub) pingSlot(slot uint8) {
	h.connsMu.Lock()
	list := h.pingList[:0]
	for c := range h.conns {
		if c.pingSlot == slot {
			list = append(list, c)
		}
	}
	h.connsMu.Unlock()
	for _, c := range list {
		c.mu.Lock()
		if !c.closing {
			c.pingDue = true
			c.signalLocked()
		}
		c.mu.Unlock()
	}
	clear(list) // hold no closed connection until the next round
	h.pingList = list
}

// beginConnect starts a connection request, before its authentication:
// it returns the CloseUser count to give addConn, or false while draining.
// Every true must be matched by an endConnect.
func (h *Hub) beginConnect() (uint64, bool) {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	if h.draining {
		return 0, false
	}
	h.connecting++
	return h.closeSeq, true
}

// endConnect ends a request begun by beginConnect (added or refused).
func (h *Hub) endConnect() {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	h.connecting--
	if h.connecting == 0 {
		// No request left that a revocation may have missed: a request
		// begun from now on gets a seq no recorded revocation exceeds.
		clear(h.revoked)
		h.forgotSeq = 0
	}
}

// addConn adds c, whose request beginConnect returned seq, authenticated
// with id. A connection whose user CloseUser closed after seq (the session
// ended while c was being authenticated and upgraded) is closed as those
// were; so is one begun before a revocation that was since forgotten
// (forgetRevokedLocked), which may have been its user's.
func (h *Hub) addConn(c *conn, seq uint64, id identity) bool {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	c.pingSlot = h.nextSlot
	h.nextSlot = (h.nextSlot + 1) % pingSlots
	h.conns[c] = struct{}{}
	h.met.conns.Inc()
	if h.status != nil && !h.draining {
		c.mu.Lock()
		c.appendLocked(h.status) // before anything else the client gets
		c.signalLocked()
		c.mu.Unlock()
	}
	if c.userID != 0 {
		h.byUser[c.userID] = append(h.byUser[c.userID], userConn{c: c, session: id.session, expires: id.expires})
		if h.revoked[c.userID].seq > seq || h.forgotSeq > seq {
			h.closeForSession(c, reasonRevoked)
		}
	}
	return !h.draining
}

func (h *Hub) removeConn(c *conn) {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	delete(h.conns, c)
	h.met.conns.Dec()
	if c.userID != 0 {
		h.unindexLocked(c)
	}
}

// Drain stops accepting connections (ServeHTTP answers 503), sends every
// client a reconnect message with a jittered after_ms, closes each with
// 1001 and waits until every connection has ended. When ctx ends first the
// remaining connections are cut and ctx's error is returned.
func (h *Hub) Drain(ctx context.Context) error {
	h.connsMu.Lock()
	h.draining = true
	for c := range h.conns {
		c.mu.Lock()
		if !c.closing {
			c.appendLocked(encodeReconnect(h.reconnectAfter().Milliseconds()))
			c.closeLocked(closeGoingAway, "server draining")
		}
		c.mu.Unlock()
	}
	h.connsMu.Unlock()

	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		h.connsMu.Lock()
		n := len(h.conns)
		h.connsMu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			h.connsMu.Lock()
			for c := range h.conns {
				_ = c.t.Close()
			}
			h.connsMu.Unlock()
			return fmt.Errorf("drain websocket connections: %d left: %w", n, ctx.Err())
		case <-tick.C:
		}
	}
}

func (h *Hub) reconnectAfter() time.Duration {
	return h.cfg.ReconnectAfter + rand.N(h.cfg.ReconnectJitter)
}
