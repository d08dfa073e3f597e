package gateway

// Sessions behind authenticated connections: the per-user index, closing a
// user's connections when a session ends (CloseUser) and the periodic check
// that closes those whose session expired or ended unannounced.

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// identity is what a connection was authenticated as.
type identity struct {
	userID  int64  // 0: anonymous
	session string // the session's key (SessionAuthenticator); "": not known
	expires int64  // when the session expires, Unix ms of Config.Now; 0: not known
}

// userConn is an authenticated connection in Hub.byUser.
type userConn struct {
	c       *conn
	session string
	expires int64 // Unix ms; 0: not known
}

// revocation is a CloseUser remembered for the connections being opened
// at the time (Hub.revoked).
type revocation struct {
	seq uint64    // Hub.closeSeq after it
	at  time.Time // Config.Now
}

// Reasons a connection is closed for its session, the label of
// findash_ws_sessions_closed_total.
const (
	reasonRevoked = "revoked" // CloseUser: announced
	reasonExpired = "expired" // its session's expiry passed
	reasonEnded   = "ended"   // the check found the session gone
)

// sessionCheckBatch bounds the sessions one LiveSessions call asks about,
// so that each store query stays small (SQL parameters, Redis keys).
const sessionCheckBatch = 500

// CloseUser closes every connection authenticated as userID with 1008
// "session revoked" and returns how many it closed. It is called when a
// session of the user ends (logout, a session revoked, a password reset):
// a connection keeps its user for its life, and one opened with the ended
// session (or a WS token made from it) must not keep receiving the user's
// alerts. Which session opened a connection is known only with a
// SessionAuthenticator and not announced, so the user's other connections
// close too; their clients reconnect with their own, still valid,
// credentials. A connection authenticated before the call but not yet
// added is closed when it is added (addConn). It costs O(the user's
// connections).
func (h *Hub) CloseUser(userID int64) int {
	if userID <= 0 {
		return 0
	}
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	h.closeSeq++
	if h.connecting > 0 { // one of them may be the user's, authenticated already
		now := h.cfg.Now()
		h.forgetRevokedLocked(now)
		h.revoked[userID] = revocation{seq: h.closeSeq, at: now}
	}
	ucs := h.byUser[userID]
	for _, uc := range ucs {
		h.closeForSession(uc.c, reasonRevoked)
	}
	return len(ucs)
}

// forgetRevokedLocked drops the revocations older than RevocationMemory:
// a connection being opened that long is past the WS token that may have
// authenticated it. It looks at most once per RevocationMemory, so an
// entry lives at most twice that; forgotSeq keeps the newest seq dropped,
// for addConn. Caller holds connsMu.
func (h *Hub) forgetRevokedLocked(now time.Time) {
	ttl := h.cfg.RevocationMemory
	if now.Sub(h.revokedSwept) <= ttl {
		return
	}
	for uid, r := range h.revoked {
		if now.Sub(r.at) > ttl {
			h.forgotSeq = max(h.forgotSeq, r.seq)
			delete(h.revoked, uid)
		}
	}
	h.revokedSwept = now
}

// unindexLocked removes c from byUser. Caller holds connsMu.
func (h *Hub) unindexLocked(c *conn) {
	ucs := h.byUser[c.userID]
	i := slices.IndexFunc(ucs, func(uc userConn) bool { return uc.c == c })
	if i < 0 {
		return
	}
	last := len(ucs) - 1
	ucs[i] = ucs[last]
	ucs[last] = userConn{} // hold no closed connection
	if last == 0 {
		delete(h.byUser, c.userID)
	} else {
		h.byUser[c.userID] = ucs[:last]
	}
}

// closeForSession closes c with 1008 for its session (reason is one of the
// reason* constants) unless it is closing already.
func (h *Hub) closeForSession(c *conn, reason string) {
	text := "session revoked"
	if reason == reasonExpired {
		text = "session expired"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.closeLocked(closePolicy, text)
	h.met.sessClosed.WithLabelValues(reason).Inc()
}

// runSessionChecks checks the sessions every SessionCheckInterval until ctx
// ends. Run owns it.
func (h *Hub) runSessionChecks(ctx context.Context) {
	t := time.NewTicker(h.cfg.SessionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.checkSessions(ctx)
		}
	}
}

// checkSessions closes the authenticated connections whose session expired
// (1008 "session expired", no I/O) and, with a SessionAuthenticator, those
// whose session the store no longer holds (1008 "session revoked"): a
// logout or revocation whose announcement this instance missed (cut from
// the bus) is thus seen within one interval. Each distinct session is
// asked about once, sessionCheckBatch at a time, one batch after another;
// a batch the store cannot answer, or not within the interval, closes
// nothing (logged, counted). The lock is held while copying the index, not
// while closing or waiting on the store.
func (h *Hub) checkSessions(ctx context.Context) {
	now := h.cfg.Now()
	var sa SessionAuthenticator
	if ah := h.auth.Load(); ah != nil {
		sa = ah.s
	}
	// Under connsMu only a copy of the index is taken (connects, closes
	// and CloseUser wait meanwhile); closing and collecting come after.
	h.connsMu.Lock()
	h.forgetRevokedLocked(now)
	all := make([]userConn, 0, len(h.byUser))
	for _, ucs := range h.byUser {
		all = append(all, ucs...)
	}
	h.connsMu.Unlock()
	var sessions []string
	owner := make(map[string]int64) // session → its user
	for _, uc := range all {
		if uc.expires != 0 && uc.expires <= now.UnixMilli() {
			h.closeForSession(uc.c, reasonExpired)
			continue
		}
		if _, dup := owner[uc.session]; sa == nil || uc.session == "" || dup {
			continue
		}
		owner[uc.session] = uc.c.userID
		sessions = append(sessions, uc.session)
	}

	// The store's answers get one interval in all: a store that hangs
	// (a dead link, a full pool) must not hold up the next check, whose
	// expiry closes need no store at all.
	sctx, cancel := context.WithTimeout(ctx, h.cfg.SessionCheckInterval)
	defer cancel()
	var ended []string
	for batch := range slices.Chunk(sessions, sessionCheckBatch) {
		if sctx.Err() != nil && ctx.Err() == nil {
			h.met.sessChecks.WithLabelValues("error").Add(float64(len(batch)))
			continue
		}
		live, err := sa.LiveSessions(sctx, batch)
		if err == nil && len(live) != len(batch) {
			err = fmt.Errorf("%d answers for %d sessions", len(live), len(batch))
		}
		if err != nil {
			h.met.sessChecks.WithLabelValues("error").Add(float64(len(batch)))
			if ctx.Err() != nil {
				return
			}
			h.log.Warn("check the sessions of websocket connections; they stay open until the next check", "sessions", len(batch), "err", err)
			continue
		}
		for i, ok := range live {
			if ok {
				h.met.sessChecks.WithLabelValues("live").Inc()
			} else {
				h.met.sessChecks.WithLabelValues("ended").Inc()
				ended = append(ended, batch[i])
			}
		}
	}
	if len(ended) == 0 {
		return
	}
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	for _, s := range ended {
		for _, uc := range h.byUser[owner[s]] { // the user's connections only
			if uc.session == s {
				h.closeForSession(uc.c, reasonEnded)
			}
		}
	}
}
