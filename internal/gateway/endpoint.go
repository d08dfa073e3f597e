package gateway

// The /ws HTTP endpoint: authentication, origin check and upgrade.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ServeHTTP is the /ws endpoint: it authenticates the optional token,
// checks the Origin, upgrades and serves the connection until it ends.
// While draining it answers 503.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	seq, ok := h.beginConnect()
	if !ok {
		w.Header().Set("Retry-After", "1")
		writeHTTPError(w, http.StatusServiceUnavailable, "draining", "the server is shutting down; reconnect elsewhere")
		return
	}
	defer h.endConnect()
	var query url.Values
	if r.URL.RawQuery != "" {
		query = r.URL.Query()
	}
	id, ok := h.authenticate(w, r, query)
	if !ok {
		return
	}
	sub, ok := h.connectSubscription(w, query, id.userID)
	if !ok {
		return
	}
	c := newConn(h, id.userID)
	// With channels to subscribe the 101 response is held and written
	// with their ack, in one write.
	t, err := h.up.Upgrade(w, r, c, len(sub.Channels) > 0)
	if err != nil {
		h.log.Debug("websocket upgrade failed", "err", err, "origin", r.Header.Get("Origin"))
		return // the upgrader has answered
	}
	c.t = t
	if !h.addConn(c, seq, id) {
		c.reply(encodeReconnect(h.reconnectAfter().Milliseconds()))
		c.close(closeGoingAway, "server draining")
	} else if len(sub.Channels) > 0 && !c.isClosing() { // closing: its session ended meanwhile
		// Before the reader starts, which owns c.subs from then on.
		c.subscribe(&sub)
	}
	// The connection is served on a goroutine of its own so that this one
	// returns: net/http then releases its per-connection read and write
	// buffers (8 KiB) and this deep stack, which would otherwise be held
	// for the life of every idle WebSocket. Drain waits for these goroutines
	// (each removes its conn last).
	go h.serveConn(c)
}

// pong moves the read deadline on a pong (the transport's ponger).
func (c *conn) pong() {
	_ = c.t.SetReadDeadline(c.hub.cfg.Now().Add(2 * c.hub.cfg.PingInterval))
}

// serveConn runs c's read loop until the connection ends, then waits for
// its writer and removes it from the hub.
func (h *Hub) serveConn(c *conn) {
	func() {
		defer func() {
			if p := recover(); p != nil {
				h.log.Error("websocket reader panic", "panic", fmt.Sprint(p))
			}
		}()
		c.readLoop()
	}()
	close(c.readerDone)
	c.close(0, "")
	<-c.writerDone
	c.unsubscribeAll()
	h.removeConn(c)
}

// authenticate resolves ?token= or the session cookie. No credentials: user
// 0 (anonymous). An explicit ?token= that fails answers 401; a failing
// cookie is ignored (the dashboard still gets market data).
func (h *Hub) authenticate(w http.ResponseWriter, r *http.Request, query url.Values) (identity, bool) {
	token := query.Get("token")
	explicit := token != ""
	if !explicit {
		if ck, err := r.Cookie("findash_session"); err == nil {
			token = ck.Value
		}
	}
	if token == "" {
		return identity{}, true
	}
	ah := h.auth.Load()
	if ah == nil {
		if explicit {
			writeHTTPError(w, http.StatusUnauthorized, "unauthorized", "authentication is not available")
			return identity{}, false
		}
		return identity{}, true
	}
	var (
		id  identity
		err error
	)
	if ah.s != nil {
		var exp time.Time
		id.userID, id.session, exp, err = ah.s.AuthenticateSession(r.Context(), token)
		if !exp.IsZero() {
			id.expires = max(exp.UnixMilli(), 1) // 0 means not known
		}
	} else {
		id.userID, err = ah.a.AuthenticateToken(r.Context(), token)
	}
	if err != nil || id.userID == 0 {
		if explicit {
			writeHTTPError(w, http.StatusUnauthorized, "unauthorized", "invalid or expired token")
			return identity{}, false
		}
		h.log.Debug("websocket session cookie rejected", "err", err)
		return identity{}, true
	}
	return id, true
}

// connectSubscription parses ?subscribe= (channels subscribed at
// connect, acknowledged by the first message). A bad list, alerts without
// authentication or more channels than a connection may hold are refused
// before the upgrade, with 400 or 401.
func (h *Hub) connectSubscription(w http.ResponseWriter, query url.Values, userID int64) (ClientMessage, bool) {
	v := query["subscribe"]
	if len(v) == 0 {
		return ClientMessage{}, true
	}
	m, err := ParseSubscribeQuery(v)
	if err != nil {
		msg := err.Error()
		var pe *ProtocolError
		if errors.As(err, &pe) {
			msg = pe.Message
		}
		writeHTTPError(w, http.StatusBadRequest, "invalid", "subscribe: "+msg)
		return m, false
	}
	if max := h.cfg.MaxSubscriptions; len(m.Channels) > max {
		h.met.subsLimit.Inc()
		writeHTTPError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("subscribe: at most %d subscriptions per connection", max))
		return m, false
	}
	if userID == 0 && slices.ContainsFunc(m.Channels, func(ch Channel) bool { return ch.Kind == KindAlerts }) {
		writeHTTPError(w, http.StatusUnauthorized, "unauthorized", "subscribe: alerts needs authentication (?token= or a session cookie)")
		return m, false
	}
	return m, true
}

func writeHTTPError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`+"\n", code, message)
}

// checkOrigin allows requests without Origin (programs), from the request's
// own host, and from the configured AllowedOrigins ("*" allows any).
func (h *Hub) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range h.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}
