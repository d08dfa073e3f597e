package fakeexchange

import (
	"encoding/binary"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	opText = 0x1
	opPing = 0x9
)

// appendFrame appends an unmasked server frame (FIN set) of opcode op.
// Frames are written by hand so that a burst of trades goes out in one
// write, as a busy venue's do.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n < 1<<16:
		dst = append(dst, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// conn is one client connection.
type conn struct {
	ws *websocket.Conn // reads client frames
	nc net.Conn        // written directly, under mu

	mu      sync.Mutex
	symbols map[string]bool // subscribed symbols; guarded by mu
	dead    bool
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// accept upgrades r and registers the connection with symbols subscribed.
func (e *Exchange) accept(w http.ResponseWriter, r *http.Request, symbols []string) (*conn, bool) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil, false // Upgrade answered the client
	}
	c := &conn{ws: ws, nc: ws.NetConn(), symbols: map[string]bool{}}
	for _, s := range symbols {
		c.symbols[s] = true
	}
	// Control frames are answered by hand (under mu): gorilla's own
	// answers would bypass the lock.
	ws.SetPingHandler(func(string) error { return nil })
	ws.SetCloseHandler(func(int, string) error { return nil })
	ws.SetPongHandler(func(string) error { e.pongs.Add(1); return nil })
	e.mu.Lock()
	e.conns[c] = struct{}{}
	e.mu.Unlock()
	e.accepted.Add(1)
	return c, true
}

// serve runs c until it closes: the reader, with onText for text frames,
// and a ticker sending pings or heartbeats. It unregisters c at the end.
func (e *Exchange) serve(c *conn, onText func(msg []byte)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { e.tick(c, done) })
	for {
		typ, msg, err := c.ws.ReadMessage()
		if err != nil {
			break
		}
		if typ == websocket.TextMessage && onText != nil {
			onText(msg)
		}
	}
	close(done)
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
	c.nc.Close()
	wg.Wait()
}

// tick sends Binance's pings or Coinbase's heartbeats, and closes c at
// MaxConnAge, until done.
func (e *Exchange) tick(c *conn, done <-chan struct{}) {
	every := e.cfg.PingEvery
	if e.cfg.Venue == Coinbase {
		every = e.cfg.HeartbeatEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var age <-chan time.Time
	if e.cfg.MaxConnAge > 0 {
		timer := time.NewTimer(e.cfg.MaxConnAge)
		defer timer.Stop()
		age = timer.C
	}
	for {
		select {
		case <-done:
			return
		case <-age:
			c.nc.Close() // Binance's 24 h disconnect
			return
		case <-t.C:
			e.mu.Lock()
			if !e.stalled {
				if e.cfg.Venue == Binance {
					c.write(appendFrame(nil, opPing, []byte("ping")))
				} else {
					e.heartbeats(c)
				}
			}
			e.mu.Unlock()
		}
	}
}

// heartbeats sends c one heartbeat per subscribed product. e.mu is held.
func (e *Exchange) heartbeats(c *conn) {
	c.mu.Lock()
	syms := make([]string, 0, len(c.symbols))
	for s := range c.symbols {
		syms = append(syms, s)
	}
	c.mu.Unlock()
	var buf []byte
	now := e.cfg.Now()
	for _, s := range syms {
		var last int64
		if h := e.trades[s]; len(h) > 0 {
			last = h[len(h)-1].ID
		}
		buf = appendFrame(buf, opText, appendCoinbaseHeartbeat(nil, s, e.seq[s], last, now))
	}
	if len(buf) > 0 {
		c.write(buf)
	}
}

func (c *conn) subscribed(symbol string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.symbols[symbol]
}

func (c *conn) subscribe(symbols []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range symbols {
		c.symbols[s] = true
	}
}

// write sends frames, giving up on a client that does not read for 5 s.
func (c *conn) write(frames []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write(frames); err != nil {
		c.dead = true
		c.nc.Close()
	}
}
