// Package fakeexchange is a fake of the two venues findash connects to,
// Binance Spot and Coinbase Exchange, for tests and for `findash
// fake-exchange`: their WebSocket trade streams and REST trade histories,
// in the layouts of their documentation (fixtures/, encode.go), with the
// faults a real venue has — a dropped connection, skipped trades (a gap in
// ids and sequence numbers), malformed and unknown messages, a stall
// (nothing sent, the connection kept open) — and REST answers that fill
// the gaps.
//
// An Exchange plays one venue. Publish makes trades: it records them (the
// truth a test compares the stored trades with) and sends them to every
// connection subscribed to their symbol, unless a fault holds them back.
//
// Concurrency. Every method is safe for concurrent use. Each connection
// has a reader goroutine (client frames: pongs, subscriptions) and, when
// it pings or sends heartbeats, a ticker goroutine; both end when the
// connection closes. Writes go straight to the socket under the
// connection's mutex, frames of one Publish in one write.
//
// Imports. fakeexchange imports gorilla/websocket (for the handshake and
// reading client frames) and the standard library. It must not import
// findash's feed package: it is an independent rendering of the venues'
// documentation that the feed is tested against.
package fakeexchange

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Venue names.
const (
	Binance  = "binance"
	Coinbase = "coinbase"
)

// Config tunes an Exchange.
type Config struct {
	// Venue is Binance or Coinbase.
	Venue string
	// FirstID is the first trade id of every symbol (default 1000).
	FirstID int64
	// PingEvery is how often Binance pings a connection (default 20 s, as
	// documented; 0 with Coinbase).
	PingEvery time.Duration
	// HeartbeatEvery is how often Coinbase sends a heartbeat per product
	// (default 1 s, as documented).
	HeartbeatEvery time.Duration
	// MaxConnAge closes a connection after this long, like Binance's 24 h
	// limit (0: never).
	MaxConnAge time.Duration
	// Seed seeds the price walk (0: 1).
	Seed uint64
	// Now is the clock stamped on trades (default time.Now).
	Now func() time.Time
}

// Exchange is a fake venue; serve it with an http.Server (it is an
// http.Handler).
type Exchange struct {
	cfg Config
	mux *http.ServeMux

	mu      sync.Mutex
	trades  map[string][]Trade // by symbol, in id order: everything ever traded
	seq     map[string]int64   // Coinbase: the product's sequence
	price   map[string]float64
	rng     *rand.Rand
	conns   map[*conn]struct{}
	skip    int    // trades still to keep from the streams
	stalled bool   // nothing is sent while set
	scratch []byte // frames of one broadcast
	msg     []byte // one message of a broadcast

	accepted  atomic.Int64 // connections ever accepted
	backfills atomic.Int64 // REST history requests answered
	pongs     atomic.Int64
}

// New returns a fake of cfg.Venue.
func New(cfg Config) *Exchange {
	if cfg.FirstID <= 0 {
		cfg.FirstID = 1000
	}
	if cfg.Venue == Binance && cfg.PingEvery <= 0 {
		cfg.PingEvery = 20 * time.Second
	}
	if cfg.Venue == Coinbase && cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = time.Second
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Exchange{
		cfg: cfg, mux: http.NewServeMux(),
		trades: map[string][]Trade{}, seq: map[string]int64{}, price: map[string]float64{},
		rng: rand.New(rand.NewPCG(cfg.Seed, 0)), conns: map[*conn]struct{}{},
	}
	switch cfg.Venue {
	case Binance:
		e.mux.HandleFunc("GET /stream", e.binanceStream)
		e.mux.HandleFunc("GET /api/v3/aggTrades", e.binanceAggTrades)
	case Coinbase:
		e.mux.HandleFunc("GET /{$}", e.coinbaseStream)
		e.mux.HandleFunc("GET /products/{product}/trades", e.coinbaseTrades)
	default:
		panic(fmt.Sprintf("fakeexchange: unknown venue %q", cfg.Venue))
	}
	return e
}

// ServeHTTP serves the venue's WebSocket stream and REST history.
func (e *Exchange) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

// Publish makes n trades of symbol (the venue's name), records them and
// sends them to the connections subscribed to symbol, in one write each;
// trades held back by Skip or Stall are only recorded. It returns the new
// trades.
func (e *Exchange) Publish(symbol string, n int) []Trade {
	e.mu.Lock()
	defer e.mu.Unlock()
	hist := e.trades[symbol]
	next := e.cfg.FirstID
	if len(hist) > 0 {
		next = hist[len(hist)-1].ID + 1
	}
	p, ok := e.price[symbol]
	if !ok {
		p = 100 + float64(len(e.price))*10
	}
	now := e.cfg.Now()
	out := make([]Trade, n)
	for i := range out {
		p *= 1 + (e.rng.Float64()-0.5)*0.002
		e.seq[symbol] += 1 + int64(e.rng.IntN(3)) // other order book events take sequence numbers too
		out[i] = Trade{
			Symbol: symbol, ID: next + int64(i), Time: now,
			Price:    strconv.FormatFloat(p, 'f', 2, 64),
			Size:     strconv.FormatFloat(0.0001+e.rng.Float64(), 'f', 8, 64),
			Sequence: e.seq[symbol], BuyerMaker: e.rng.IntN(2) == 0,
		}
	}
	e.price[symbol] = p
	e.trades[symbol] = append(hist, out...)
	send := out
	if e.stalled {
		send = nil
	} else if e.skip > 0 {
		k := min(e.skip, len(send))
		e.skip -= k
		send = send[k:]
	}
	if len(send) > 0 {
		e.broadcast(symbol, send)
	}
	return out
}

// broadcast writes trades of symbol to its subscribers. e.mu is held, so
// trades reach every connection in order.
func (e *Exchange) broadcast(symbol string, trades []Trade) {
	buf, msg := e.scratch[:0], e.msg[:0]
	for i := range trades {
		if e.cfg.Venue == Binance {
			msg = appendBinanceAggTrade(msg[:0], &trades[i])
		} else {
			msg = appendCoinbaseMatch(msg[:0], "match", &trades[i])
		}
		buf = appendFrame(buf, opText, msg)
	}
	e.scratch, e.msg = buf, msg
	for c := range e.conns {
		if c.subscribed(symbol) {
			c.write(buf)
		}
	}
}

// Trades returns every trade of symbol so far, in id order.
func (e *Exchange) Trades(symbol string) []Trade {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Trade(nil), e.trades[symbol]...)
}

// Skip keeps the next n published trades (of any symbol) off the streams:
// the clients see a gap in trade ids (and Coinbase sequence numbers).
func (e *Exchange) Skip(n int) {
	e.mu.Lock()
	e.skip += n
	e.mu.Unlock()
}

// Stall stops (on) or resumes every write: trades, pings, heartbeats. The
// connections stay open.
func (e *Exchange) Stall(on bool) {
	e.mu.Lock()
	e.stalled = on
	e.mu.Unlock()
}

// Drop cuts every connection at the TCP level, without a close frame.
func (e *Exchange) Drop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.conns {
		c.nc.Close()
	}
}

// SendRaw sends payload as a text frame to every connection, as is
// (malformed JSON, an unknown type).
func (e *Exchange) SendRaw(payload []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	frame := appendFrame(nil, opText, payload)
	for c := range e.conns {
		c.write(frame)
	}
}

// Conns returns how many connections are open.
func (e *Exchange) Conns() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.conns)
}

// Accepted returns how many connections were ever accepted.
func (e *Exchange) Accepted() int64 { return e.accepted.Load() }

// Backfills returns how many REST history requests were answered.
func (e *Exchange) Backfills() int64 { return e.backfills.Load() }

// Pongs returns how many pongs the clients sent (Binance).
func (e *Exchange) Pongs() int64 { return e.pongs.Load() }
