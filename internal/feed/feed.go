package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/retry"
)

// Trade is one trade reported by a venue.
type Trade struct {
	Symbol string  // normalised: BASE-QUOTE (BTC-USDT)
	ID     int64   // the venue's trade id: consecutive per symbol
	TS     int64   // trade time, ms since epoch, UTC
	Price  float64 // quote currency per unit
	Size   float64 // base currency
}

// Log is the event log a feed appends to; *bus.Bus implements it.
type Log interface {
	// AppendVenue stores ticks with their venue trade ids and returns once
	// all are acknowledged; the log drops a message it already holds
	// (counted in dups). Errors wrap market.ErrUnavailable.
	AppendVenue(ctx context.Context, venue string, ticks []market.Tick, ids []int64) (dups int, err error)
	// LastTradeID returns the venue trade id of symbol's last logged tick,
	// when that tick came from venue.
	LastTradeID(ctx context.Context, venue, symbol string) (id int64, ok bool, err error)
}

// Config tunes a Feed. Zero fields take the defaults documented on each.
type Config struct {
	// Symbols are the normalised symbols to subscribe to (BTC-USDT).
	Symbols []string
	// WSURL and RESTURL are the venue's endpoints (default: its public ones).
	WSURL, RESTURL string
	// Silence is how long a connection may deliver nothing (no message, no
	// ping) before it is replaced (within an eighth more: the read
	// deadline is not moved on every message). Default: the venue's
	// (Binance pings every 20 s: 60 s; Coinbase sends heartbeats every
	// second: 5 s).
	Silence time.Duration
	// StaleAfter is how long without a message makes Check fail (readiness
	// "degraded"). Default 2×Silence.
	StaleAfter time.Duration
	// MaxMessageBytes bounds one WebSocket message; a larger one closes the
	// connection (it is reopened). Default 1 MiB.
	MaxMessageBytes int64
	// MaxBodyBytes bounds one REST response. Default 8 MiB.
	MaxBodyBytes int64
	// MaxBackfill bounds the trades fetched to fill one gap; a longer gap
	// is filled that far and the rest is counted lost. Default 100,000.
	MaxBackfill int
	// QueueLen bounds the trades between the reader and the log. Default 65,536.
	QueueLen int
	// BatchMax bounds the trades of one append. Default 8,192.
	BatchMax int
	// Retry is the reconnect policy. Default retry.Feed().
	Retry retry.Policy
	// HTTP is the REST client. Default: one with a 10 s timeout.
	HTTP *http.Client
	// Now is the wall clock (time.Now by default), for the lag and the
	// last message's age.
	Now func() time.Time
}

func (c *Config) defaults(v venue) {
	if c.Silence <= 0 {
		c.Silence = v.silence()
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 2 * c.Silence
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 1 << 20
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 8 << 20
	}
	if c.MaxBackfill <= 0 {
		c.MaxBackfill = 100_000
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 65_536
	}
	if c.BatchMax <= 0 {
		c.BatchMax = 8_192
	}
	if c.Retry == (retry.Policy{}) {
		c.Retry = retry.Feed()
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// kind says what a venue message was.
type kind int

const (
	kindTrades    kind = iota // trades (possibly none)
	kindHeartbeat             // a heartbeat naming the symbol's last trade id
	kindControl               // a subscription answer or the like: nothing to do
	kindUnknown               // a well-formed message of a type not handled
)

// event is what a message said beside its trades.
type event struct {
	kind   kind
	symbol string // kindHeartbeat: the symbol
	lastID int64  // kindHeartbeat: the venue's last trade id of symbol
}

// venue is one exchange's protocol.
type venue interface {
	name() string
	silence() time.Duration
	// dial opens the stream of the feed's symbols and subscribes.
	dial(ctx context.Context, d *websocket.Dialer) (*websocket.Conn, error)
	// parse decodes one message, appending its trades to dst. An error
	// means a malformed message (counted and skipped).
	parse(msg []byte, dst []Trade) ([]Trade, event, error)
	// fetch returns symbol's trades with an id at or above from (up to to,
	// when to > 0), oldest first, at most limit of them.
	fetch(ctx context.Context, symbol string, from, to int64, limit int) ([]Trade, error)
}

// Feed is one venue's connection. Run it once.
type Feed struct {
	v    venue
	cfg  Config
	log  Log
	logr *slog.Logger
	m    *venueMetrics

	marks map[string]int64 // symbol → last trade id queued; Run's goroutine only
	buf   []Trade          // parse buffer
	msg   []byte           // read buffer (Run's goroutine only)

	state      atomic.Int32 // a State
	started    atomic.Int64 // unix ns when Run started; 0 = not yet
	lastMsg    atomic.Int64 // unix ns of the last message or ping; 0 = never
	lag        atomic.Int64 // ns: the last live trade's arrival − trade time; noLag = none yet
	msgs       atomic.Int64 // WebSocket messages received
	acked      atomic.Int64 // trades the log acknowledged
	gaps       atomic.Int64 // gaps filled through REST
	backfilled atomic.Int64 // trades fetched through REST
	lost       atomic.Int64 // trades a gap too long for MaxBackfill left out
	reconns    atomic.Int64
	mu         sync.Mutex
	lastError  string // the last connection error; guarded by mu
}

// noLag marks Feed.lag before the first live trade.
const noLag = math.MinInt64

// State is a feed's state.
type State int32

// The states of a feed. Run moves between StateConnecting (before its
// first connection), StateConnected and StateReconnecting, and ends in
// StateStopped; Status reports StateDegraded instead of the first three
// while the feed is silent past Config.StaleAfter.
const (
	StateConnecting   State = iota // Run has not connected yet
	StateConnected                 // a connection is open
	StateReconnecting              // waiting to reconnect after a failure or a silence
	StateStopped                   // Run returned
	StateDegraded                  // silent past Config.StaleAfter (Status only)
)

// String returns the state's name, as in /api/v1/feeds.
func (s State) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateStopped:
		return "stopped"
	case StateDegraded:
		return "degraded"
	}
	return "connecting"
}

func newFeed(v venue, cfg Config, log Log, m *Metrics, logger *slog.Logger) *Feed {
	cfg.defaults(v)
	f := &Feed{v: v, cfg: cfg, log: log, m: m.venue(v.name()), marks: make(map[string]int64, len(cfg.Symbols)),
		logr: logger.With("component", "feed", "venue", v.name())}
	for _, s := range cfg.Symbols {
		f.marks[s] = 0
	}
	f.lag.Store(noLag)
	m.add(f)
	return f
}

// Venue returns the venue's name ("binance", "coinbase").
func (f *Feed) Venue() string { return f.v.name() }

// Symbols returns the feed's symbols.
func (f *Feed) Symbols() []string { return append([]string(nil), f.cfg.Symbols...) }

// Run restores the marks from the log, then keeps a connection to the venue
// until ctx ends, reconnecting with backoff and filling every gap. It
// returns nil when ctx ends, after the pump has appended what was queued
// (within a few seconds).
func (f *Feed) Run(ctx context.Context) error {
	defer f.state.Store(int32(StateStopped))
	f.started.Store(f.cfg.Now().UnixNano())
	if err := f.restore(ctx); err != nil {
		return nil // ctx ended
	}
	q := make(chan Trade, f.cfg.QueueLen)
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		f.pump(ctx, q)
	}()
	f.connectLoop(ctx, q)
	close(q)
	<-pumped
	return nil
}

// restore sets each symbol's mark from the log, retrying while the log is
// unavailable. It fails only when ctx ends.
func (f *Feed) restore(ctx context.Context) error {
	bo := retry.Log().BackOff()
	for _, s := range f.cfg.Symbols {
		for {
			id, ok, err := f.log.LastTradeID(ctx, f.v.name(), s)
			if err == nil {
				if ok {
					f.marks[s] = id
				}
				break
			}
			f.logr.Warn("cannot read the feed's last trade from the log; retrying", "symbol", s, "err", err)
			if !sleep(ctx, bo.NextBackOff()) {
				return ctx.Err()
			}
		}
	}
	return nil
}

// maxErrorBytes bounds the last connection error a feed keeps and shows.
const maxErrorBytes = 200

// connectLoop connects, runs a session, and reconnects with backoff, until
// ctx ends.
func (f *Feed) connectLoop(ctx context.Context, q chan<- Trade) {
	bo := f.cfg.Retry.BackOff()
	d := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 64 << 10, Proxy: http.ProxyFromEnvironment}
	for sessions := 0; ctx.Err() == nil; sessions++ {
		if sessions > 0 {
			f.state.Store(int32(StateReconnecting))
		}
		conn, err := f.v.dial(ctx, d)
		if err == nil {
			var got int
			got, err = f.session(ctx, conn, q)
			conn.Close()
			if got > 0 {
				bo.Reset()
			}
		}
		if ctx.Err() != nil {
			return
		}
		f.state.Store(int32(StateReconnecting))
		f.reconns.Add(1)
		f.m.reconnects.Inc()
		f.setError(err)
		wait := bo.NextBackOff()
		f.logr.Warn("feed disconnected; reconnecting", "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return
		}
	}
}

// errSilent is the cause of a connection replaced for its silence.
var errSilent = errors.New("no message within the silence timeout")

// session reads conn until it fails, is silent for Silence, or ctx ends. It
// first fills what the venue traded since each symbol's mark. It returns
// how many messages it read.
func (f *Feed) session(ctx context.Context, conn *websocket.Conn, q chan<- Trade) (int, error) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetReadLimit(f.cfg.MaxMessageBytes)
	conn.SetPingHandler(func(data string) error {
		f.touch()
		conn.SetReadDeadline(time.Now().Add(f.cfg.Silence))
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	f.state.Store(int32(StateConnected))
	for _, s := range f.cfg.Symbols {
		if m := f.marks[s]; m > 0 {
			n, err := f.fill(ctx, s, m+1, 0, q)
			if n > 0 {
				f.gapFilled() // traded while disconnected
			}
			if err != nil {
				return 0, err
			}
		}
	}
	n := 0
	var deadline time.Time // the read deadline last set
	for {
		// Moving the deadline is a timer update in the runtime (~0.35 µs):
		// it is moved at most every slack, to now + Silence + slack, so a
		// silent connection is replaced between Silence and Silence+slack
		// after its last message.
		if now := time.Now(); deadline.Sub(now) < f.cfg.Silence {
			deadline = now.Add(f.cfg.Silence + f.cfg.Silence/deadlineSlack)
			conn.SetReadDeadline(deadline)
		}
		msg, err := f.read(conn)
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				f.m.silences.Inc()
				return n, fmt.Errorf("%w (%s): replacing the connection", errSilent, f.cfg.Silence)
			}
			return n, fmt.Errorf("read: %w", err)
		}
		f.msgs.Add(1)
		f.m.messages.Inc()
		trades, ev, err := f.v.parse(msg, f.buf[:0])
		f.buf = trades[:0]
		if err != nil {
			f.m.malformed.Inc()
			f.logr.Debug("malformed message skipped", "err", err, "bytes", len(msg))
			continue
		}
		switch ev.kind {
		case kindUnknown:
			f.m.unknown.Inc()
			continue
		case kindControl:
			continue
		}
		// Only market data (trades, a heartbeat) is a sign of life: a venue
		// that acknowledges the subscription, or sends errors or garbage, and
		// nothing else must still show degraded (decision 0021), and such a
		// session does not reset the reconnect backoff.
		n++
		now := f.touch()
		if ev.kind == kindHeartbeat {
			if m, ok := f.marks[ev.symbol]; ok && m > 0 && ev.lastID > m {
				f.gapFilled()
				if _, err := f.fill(ctx, ev.symbol, m+1, ev.lastID, q); err != nil {
					return n, err
				}
			}
		}
		for i := range trades {
			if err := f.accept(ctx, &trades[i], now, q); err != nil {
				return n, err
			}
		}
	}
}

// accept queues t unless it is at or below its symbol's mark; a trade past
// mark+1 first fills the gap.
func (f *Feed) accept(ctx context.Context, t *Trade, now int64, q chan<- Trade) error {
	m, ok := f.marks[t.Symbol]
	if !ok {
		f.m.unknown.Inc() // a symbol not subscribed to
		return nil
	}
	if t.ID <= m {
		f.m.duplicates.Inc()
		return nil
	}
	if m > 0 && t.ID > m+1 {
		f.gapFilled()
		if _, err := f.fill(ctx, t.Symbol, m+1, t.ID-1, q); err != nil {
			return err
		}
	}
	lag := now - t.TS*1e6
	f.lag.Store(lag)
	f.m.lag.Observe(float64(lag) / 1e9)
	return f.enqueue(ctx, t, q)
}

// enqueue advances t's symbol's mark to t.ID and queues t, waiting for room.
func (f *Feed) enqueue(ctx context.Context, t *Trade, q chan<- Trade) error {
	f.marks[t.Symbol] = t.ID
	select {
	case q <- *t:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gapFilled counts a gap filled (or being filled) through REST.
func (f *Feed) gapFilled() {
	f.gaps.Add(1)
	f.m.gaps.Inc()
}

// touch records a message's arrival and returns its time (unix ns).
func (f *Feed) touch() int64 {
	now := f.cfg.Now().UnixNano()
	f.lastMsg.Store(now)
	return now
}

func (f *Feed) setError(err error) {
	if err == nil {
		return
	}
	// The error may quote what a venue or a proxy sent; /api/v1/feeds shows
	// it to anyone, so it is bounded as /readyz bounds its checks' errors.
	msg := err.Error()
	if len(msg) > maxErrorBytes {
		msg = strings.ToValidUTF8(msg[:maxErrorBytes], "") + "…"
	}
	f.mu.Lock()
	f.lastError = msg
	f.mu.Unlock()
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
