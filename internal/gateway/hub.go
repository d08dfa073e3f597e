package gateway

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// Source is the live market state the hub reads snapshots from; satisfied
// by *market.State.
type Source interface {
	Quote(symbol string) (market.Quote, bool)
	Quotes(symbols []string) []market.Quote
	OpenCandle(symbol string, iv market.Interval) (market.Candle, bool)
}

// Hub is the WebSocket gateway: it accepts connections on ServeHTTP, keeps
// their subscriptions and fans published ticks, candles, quotes and alerts
// out to them. See the package documentation for its concurrency and
// overflow rules.
type Hub struct {
	src       Source
	cfg       Config
	log       *slog.Logger
	met       *metrics
	up        *wsUpgrader
	auth      atomic.Pointer[authHolder]
	floor     atomic.Uint64
	hardLimit int // queue bound for replies and replays: SendQueue + ReplayTicks

	shards [numShards]shard

	quotesMu   sync.Mutex // guards quoteSubs
	quoteSubs  subList
	pendingMu  sync.Mutex // guards pendingQ and qbuf
	pendingQ   map[string]market.Quote
	qbuf       []market.Quote
	alertsMu   sync.Mutex
	alertsSubs map[int64]*subList

	connsMu  sync.Mutex
	conns    map[*conn]struct{}
	draining bool
	nextSlot uint8   // the ping slot of the next connection
	pingList []*conn // Run only: the connections of the slot being pinged
}

// pingSlots is how many groups the connections are pinged in, one group
// every PingInterval/pingSlots. Pinging every connection at the same
// moment made a burst of one write per connection (and a pong read from
// each) every 30 s: with 17,000 connections per instance and 50,000 on the
// machine it held tick deliveries up for seconds (docs/benchmarks.md).
const pingSlots = 16

type authHolder struct{ a Authenticator }

// New returns a Hub reading snapshots from src. It starts no goroutines:
// call Run for the background loops. reg may be nil (no metrics).
func New(src Source, cfg Config, log *slog.Logger, reg prometheus.Registerer) *Hub {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		src:        src,
		cfg:        cfg,
		log:        log.With("component", "gateway"),
		met:        newMetrics(reg),
		hardLimit:  cfg.SendQueue + cfg.ReplayTicks,
		pendingQ:   make(map[string]market.Quote),
		alertsSubs: make(map[int64]*subList),
		conns:      make(map[*conn]struct{}),
	}
	for i := range h.shards {
		h.shards[i].syms = make(map[string]*symbolTopic)
	}
	h.up = newUpgrader(h.checkOrigin)
	if cfg.Auth != nil {
		h.SetAuthenticator(cfg.Auth)
	}
	return h
}

// SetAuthenticator sets (or, with nil, removes) the authenticator used for
// connections opened from now on. Safe to call at any time.
func (h *Hub) SetAuthenticator(a Authenticator) {
	if a == nil {
		h.auth.Store(nil)
		return
	}
	h.auth.Store(&authHolder{a})
}

// SetFloor declares that the hub holds every tick with seq > floor: a
// client resuming from an older seq of a symbol the hub holds nothing
// newer for is sent a gap up to floor. Call it before Publish when the
// live feed starts reading the log.
func (h *Hub) SetFloor(seq uint64) {
	h.floor.Store(seq)
	h.eachTopic(func(t *symbolTopic) {
		if t.n == 0 && t.floor < seq {
			t.floor = seq
		}
	})
}

// Publish fans out ticks (one symbol's batch, Seq set, increasing) and the
// quotes and candles in u (either may be nil). A tick whose seq is not above
// the newest already published for its symbol is ignored, so redelivery is
// harmless. Publish never blocks on a client: a full queue drops ticks (and
// reports a gap), candles are conflated, quotes are sent by Run at most 4
// times a second. Call it from one goroutine.
func (h *Hub) Publish(ticks []market.Tick, u *market.Update) {
	for i := 0; i < len(ticks); {
		j := i + 1
		for j < len(ticks) && ticks[j].Symbol == ticks[i].Symbol {
			j++
		}
		h.publishTicks(ticks[i:j])
		i = j
	}
	if u == nil {
		return
	}
	if len(u.Quotes) > 0 {
		h.pendingMu.Lock()
		for _, q := range u.Quotes {
			h.pendingQ[q.Symbol] = q
		}
		h.pendingMu.Unlock()
	}
	var conflated int
	for i := range u.Candles {
		c := &u.Candles[i]
		if int(c.Interval) >= market.NumIntervals {
			continue
		}
		t := h.lockTopic(c.Symbol, false)
		if t == nil {
			continue
		}
		if subs := t.candles[c.Interval]; len(subs) > 0 {
			msg, err := encodeData("candle", t.candleName[c.Interval], c)
			if err != nil {
				h.log.Error("encode candle", "symbol", c.Symbol, "err", err)
			} else {
				for _, s := range subs {
					if s.c.pushLatest(s, msg) {
						conflated++
					}
				}
			}
		}
		t.mu.Unlock()
	}
	if conflated > 0 {
		h.met.conflated.Add(float64(conflated))
	}
}

func (h *Hub) publishTicks(ticks []market.Tick) {
	sym := ticks[0].Symbol
	if !market.ValidSymbol(sym) {
		h.log.Warn("publish: invalid symbol dropped", "symbol", fmt.Sprintf("%.40q", sym), "ticks", len(ticks))
		return
	}
	now := h.cfg.Now().UnixNano()
	t := h.lockTopic(sym, true)
	defer t.mu.Unlock()

	// encode the new ticks once, into one buffer for the whole batch
	size := 0
	last := t.last
	for i := range ticks {
		if ticks[i].Seq > last {
			last = ticks[i].Seq
			size += 129 + 2*len(sym) // a tick message and its newline
		}
	}
	if size == 0 {
		return
	}
	buf := make([]byte, 0, size)
	batch := t.batch[:0]
	spans := t.spans[:0]
	last = t.last
	spanStart := 0
	for i := range ticks {
		tk := &ticks[i]
		if tk.Seq <= last {
			continue
		}
		last = tk.Seq
		if n := len(spans); n > 0 && spans[n-1].n < spanTicks {
			buf = append(buf, '\n')
		} else {
			spanStart = len(buf)
			spans = append(spans, tickSpan{first: tk.Seq, i0: len(batch)})
		}
		start := len(buf)
		buf = appendTick(buf, t.ticksName, tk)
		batch = append(batch, ringEntry{seq: tk.Seq, at: now, msg: buf[start:len(buf):len(buf)]})
		sp := &spans[len(spans)-1]
		sp.last, sp.n, sp.msg = tk.Seq, sp.n+1, buf[spanStart:len(buf):len(buf)]
	}
	for i := range batch {
		t.push(batch[i].seq, now, batch[i].msg, h.cfg.ReplayTicks)
	}
	for i := range spans {
		if sp := &spans[i]; sp.n > 1 {
			sp.ticks = batch[sp.i0 : sp.i0+sp.n]
		}
	}
	dropped := 0
	for _, s := range t.ticks {
		dropped += s.c.pushTicks(s, spans, h.cfg.SendQueue)
	}
	clear(spans)
	t.spans = spans[:0]
	clear(batch)
	t.batch = batch[:0]
	t.prune(now - h.cfg.ReplayAge.Nanoseconds())
	if dropped > 0 {
		h.met.dropped.Add(float64(dropped))
	}
}

// PublishAlert sends data as an alert message to every connection of
// userID subscribed to alerts. A connection whose queue is full misses it
// (counted as dropped); alerts stay listed by the REST API.
func (h *Hub) PublishAlert(userID int64, data any) {
	h.alertsMu.Lock()
	defer h.alertsMu.Unlock()
	l := h.alertsSubs[userID]
	if l == nil || len(*l) == 0 {
		return
	}
	msg, err := encodeData("alert", "alerts", data)
	if err != nil {
		h.log.Error("encode alert", "user_id", userID, "err", err)
		return
	}
	for _, s := range *l {
		if !s.c.pushOrdered(msg, h.cfg.SendQueue) {
			h.met.dropped.Inc()
		}
	}
}

// register adds s to its channel, queueing its snapshot first and, for a
// resumed ticks channel, the held ticks after since (or a gap), all under
// the channel's lock so that no live tick is missed or repeated.
func (h *Hub) register(s *subscription, since uint64, resume bool) {
	c := s.c
	switch s.ch.Kind {
	case KindTicks:
		t := h.lockTopic(s.ch.Symbol, true)
		defer t.mu.Unlock()
		var data any
		if q, ok := h.src.Quote(s.ch.Symbol); ok {
			data = q
		}
		h.replySnapshot(s, data)
		if resume {
			h.replay(t, s, since)
			s.after = since // a hub behind the client's last one must not resend
		}
		t.ticks.add(s)
	case KindCandles:
		t := h.lockTopic(s.ch.Symbol, true)
		defer t.mu.Unlock()
		var data any
		if cd, ok := h.src.OpenCandle(s.ch.Symbol, s.ch.Interval); ok {
			data = cd
		}
		h.replySnapshot(s, data)
		t.candles[s.ch.Interval].add(s)
	case KindQuotes:
		h.quotesMu.Lock()
		defer h.quotesMu.Unlock()
		qs := h.src.Quotes(nil)
		if qs == nil {
			qs = []market.Quote{}
		}
		h.replySnapshot(s, qs)
		h.quoteSubs.add(s)
	case KindAlerts:
		h.alertsMu.Lock()
		defer h.alertsMu.Unlock()
		l := h.alertsSubs[c.userID]
		if l == nil {
			l = new(subList)
			h.alertsSubs[c.userID] = l
		}
		l.add(s)
	}
}

func (h *Hub) replySnapshot(s *subscription, data any) {
	msg, err := encodeData("snapshot", s.name, data)
	if err != nil {
		h.log.Error("encode snapshot", "channel", s.name, "err", err)
		return
	}
	s.c.reply(msg)
}

// replay queues the held ticks of t after since for s. Caller holds t.mu.
func (h *Hub) replay(t *symbolTopic, s *subscription, since uint64) {
	t.prune(h.cfg.Now().UnixNano() - h.cfg.ReplayAge.Nanoseconds())
	after := since
	if since < t.floor {
		s.c.reply(encodeGap(s.name, since+1, t.floor))
		h.met.gaps.Inc()
		after = t.floor
	}
	// the ring is in seq order: find the first entry after `after`
	first := sortSearch(t.n, func(k int) bool { return t.entry(k).seq > after })
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

func sortSearch(n int, f func(int) bool) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !f(m) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// unregister removes s from its channel; nothing more is sent for it.
func (h *Hub) unregister(s *subscription) {
	switch s.ch.Kind {
	case KindTicks, KindCandles:
		if t := h.lockTopic(s.ch.Symbol, false); t != nil {
			if s.ch.Kind == KindTicks {
				t.ticks.remove(s)
			} else {
				t.candles[s.ch.Interval].remove(s)
			}
			if t.last <= h.floor.Load() {
				h.dropIfEmpty(t)
			}
			t.mu.Unlock()
		}
	case KindQuotes:
		h.quotesMu.Lock()
		h.quoteSubs.remove(s)
		h.quotesMu.Unlock()
	case KindAlerts:
		h.alertsMu.Lock()
		if l := h.alertsSubs[s.c.userID]; l != nil {
			l.remove(s)
			if len(*l) == 0 {
				delete(h.alertsSubs, s.c.userID)
			}
		}
		h.alertsMu.Unlock()
	}
	c := s.c
	c.mu.Lock()
	s.dead = true
	s.pending = nil
	s.gapFrom, s.gapTo = 0, 0
	c.mu.Unlock()
}

// flushQuotes sends the quotes changed since the last flush to every quotes
// subscriber. A subscriber whose previous quotes message is still unsent
// gets the full list instead (latest wins, nothing lost).
func (h *Hub) flushQuotes() {
	h.pendingMu.Lock()
	qs := h.qbuf[:0]
	for _, q := range h.pendingQ {
		qs = append(qs, q)
	}
	clear(h.pendingQ)
	h.qbuf = qs
	h.pendingMu.Unlock() // qbuf is only touched here, by Run's goroutine
	if len(qs) == 0 {
		return
	}
	slices.SortFunc(qs, func(a, b market.Quote) int { return cmp.Compare(a.Symbol, b.Symbol) })

	h.quotesMu.Lock()
	defer h.quotesMu.Unlock()
	if len(h.quoteSubs) == 0 {
		return
	}
	msg, err := encodeData("quotes", "quotes", qs)
	if err != nil {
		h.log.Error("encode quotes", "err", err)
		return
	}
	var full []byte
	conflated := 0
	for _, s := range h.quoteSubs {
		if s.c.pushIfIdle(s, msg) {
			continue
		}
		if full == nil {
			if full, err = encodeData("quotes", "quotes", h.src.Quotes(nil)); err != nil {
				h.log.Error("encode quotes", "err", err)
				return
			}
		}
		s.c.pushLatest(s, full)
		conflated++
	}
	if conflated > 0 {
		h.met.conflated.Add(float64(conflated))
	}
}

// Run runs the background loops — quotes conflation (at most every
// QuotesInterval), pings every PingInterval and pruning of replay rings —
// until ctx ends; then it returns nil.
func (h *Hub) Run(ctx context.Context) error {
	quotes := time.NewTicker(h.cfg.QuotesInterval)
	defer quotes.Stop()
	ping := time.NewTicker(max(h.cfg.PingInterval/pingSlots, time.Millisecond))
	defer ping.Stop()
	var slot uint8
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-quotes.C:
			h.flushQuotes()
		case <-ping.C:
			h.pingSlot(slot)
			if slot = (slot + 1) % pingSlots; slot == 0 {
				cutoff := h.cfg.Now().UnixNano() - h.cfg.ReplayAge.Nanoseconds()
				h.eachTopic(func(t *symbolTopic) { t.prune(cutoff) })
			}
		}
	}
}

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

// ServeHTTP is the /ws endpoint: it authenticates the optional token,
// checks the Origin, upgrades and serves the connection until it ends.
// While draining it answers 503.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.isDraining() {
		w.Header().Set("Retry-After", "1")
		writeHTTPError(w, http.StatusServiceUnavailable, "draining", "the server is shutting down; reconnect elsewhere")
		return
	}
	userID, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	c := newConn(h, userID)
	t, err := h.up.Upgrade(w, r, func() {
		_ = c.t.SetReadDeadline(time.Now().Add(2 * h.cfg.PingInterval))
	})
	if err != nil {
		h.log.Debug("websocket upgrade failed", "err", err, "origin", r.Header.Get("Origin"))
		return // the upgrader has answered
	}
	c.t = t
	if !h.addConn(c) {
		c.reply(encodeReconnect(h.reconnectAfter().Milliseconds()))
		c.close(closeGoingAway, "server draining")
	}
	// The connection is served on a goroutine of its own so that this one
	// returns: net/http then releases its per-connection read and write
	// buffers (8 KiB) and this deep stack, which would otherwise be held
	// for the life of every idle WebSocket. Drain waits for these goroutines
	// (each removes its conn last).
	go h.serveConn(c)
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
func (h *Hub) authenticate(w http.ResponseWriter, r *http.Request) (int64, bool) {
	token := r.URL.Query().Get("token")
	explicit := token != ""
	if !explicit {
		if ck, err := r.Cookie("findash_session"); err == nil {
			token = ck.Value
		}
	}
	if token == "" {
		return 0, true
	}
	ah := h.auth.Load()
	if ah == nil {
		if explicit {
			writeHTTPError(w, http.StatusUnauthorized, "unauthorized", "authentication is not available")
			return 0, false
		}
		return 0, true
	}
	uid, err := ah.a.AuthenticateToken(r.Context(), token)
	if err != nil || uid == 0 {
		if explicit {
			writeHTTPError(w, http.StatusUnauthorized, "unauthorized", "invalid or expired token")
			return 0, false
		}
		h.log.Debug("websocket session cookie rejected", "err", err)
		return 0, true
	}
	return uid, true
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

func (h *Hub) isDraining() bool {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	return h.draining
}

func (h *Hub) addConn(c *conn) bool {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	c.pingSlot = h.nextSlot
	h.nextSlot = (h.nextSlot + 1) % pingSlots
	h.conns[c] = struct{}{}
	h.met.conns.Inc()
	return !h.draining
}

func (h *Hub) removeConn(c *conn) {
	h.connsMu.Lock()
	defer h.connsMu.Unlock()
	delete(h.conns, c)
	h.met.conns.Dec()
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
			c.q = append(c.q, encodeReconnect(h.reconnectAfter().Milliseconds()))
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
