package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// BareServer is the fan-out floor `bench ws --bare` measures beside the
// server under test: it speaks findash's client protocol (subscribe, ack,
// tick messages) and its tick POST, and does nothing else. Each tick is
// framed once (one WebSocket text frame, unmasked, so the same bytes go to
// every subscriber) and written to every subscriber of its channel with one
// write per delivery, from the POST's goroutine, under the channel's lock
// (so seq increases per channel). No durability, no auth, no rate limits,
// no slow-client handling: a subscriber that does not read blocks its
// channel's publishes. It is a baseline for loopback runs, never a server
// to expose.
type BareServer struct {
	mu       sync.Mutex
	channels map[string]*bareChannel
	up       websocket.Upgrader
	reg      *prometheus.Registry
}

type bareChannel struct {
	mu    sync.Mutex
	seq   uint64
	conns []*bareConn
}

type bareConn struct {
	mu   sync.Mutex // one write at a time
	c    net.Conn
	subs []*bareChannel
}

// Bounds of what the bare server reads: a tick POST and a client message.
const (
	bareMaxBody    = 4 << 20
	bareMaxMessage = 64 << 10
	bareMaxSubs    = 1000
)

// NewBareServer returns a bare server. Its /metrics exports the Go runtime
// (with the GC pause histogram bench ws reads) and process collectors.
func NewBareServer() *BareServer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/pauses/total/gc:seconds$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return &BareServer{
		channels: make(map[string]*bareChannel),
		up:       websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024, CheckOrigin: func(*http.Request) bool { return true }},
		reg:      reg,
	}
}

// Handler serves GET /ws, POST /api/v1/ticks and GET /metrics.
func (s *BareServer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("POST /api/v1/ticks", s.serveTicks)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return mux
}

func (s *BareServer) channel(name string) *bareChannel {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[name]
	if ch == nil {
		ch = &bareChannel{}
		s.channels[name] = ch
	}
	return ch
}

// serveWS upgrades and reads the client's messages until it goes: each
// subscribe is acknowledged; anything else is ignored.
func (s *BareServer) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	ws.SetReadLimit(bareMaxMessage)
	bc := &bareConn{c: ws.NetConn()}
	// ?subscribe=a,b subscribes at connect (findash's protocol): ack, then join.
	if names := r.URL.Query().Get("subscribe"); names != "" {
		chans := strings.Split(names, ",")
		if len(chans) > bareMaxSubs || bc.write(appendFrame(nil, []byte(`{"type":"ack"}`))) != nil {
			ws.Close()
			return
		}
		for _, name := range chans {
			s.join(bc, name)
		}
	}
	defer func() {
		for _, ch := range bc.subs {
			ch.mu.Lock()
			for i, c := range ch.conns {
				if c == bc {
					ch.conns = append(ch.conns[:i], ch.conns[i+1:]...)
					break
				}
			}
			ch.mu.Unlock()
		}
		ws.Close()
	}()
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var sub struct {
			Op       string   `json:"op"`
			ID       int64    `json:"id"`
			Channels []string `json:"channels"`
		}
		if json.Unmarshal(msg, &sub) != nil || sub.Op != "subscribe" || len(bc.subs)+len(sub.Channels) > bareMaxSubs {
			continue
		}
		// Ack first, then join: the ack precedes every tick on the
		// connection.
		if bc.write(appendFrame(nil, []byte(`{"type":"ack","id":`+strconv.FormatInt(sub.ID, 10)+`}`))) != nil {
			return
		}
		for _, name := range sub.Channels {
			s.join(bc, name)
		}
	}
}

// join subscribes bc to the channel name (reader only).
func (s *BareServer) join(bc *bareConn, name string) {
	ch := s.channel(name)
	ch.mu.Lock()
	ch.conns = append(ch.conns, bc)
	ch.mu.Unlock()
	bc.subs = append(bc.subs, ch)
}

func (c *bareConn) write(frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.c.Write(frame)
	return err
}

// bareTick is a tick of the POST body; its numbers are passed on as sent.
type bareTick struct {
	Symbol string          `json:"symbol"`
	TS     json.RawMessage `json:"ts"`
	Price  json.RawMessage `json:"price"`
	Size   json.RawMessage `json:"size"`
}

// serveTicks frames each tick once and writes it to every subscriber of
// ticks:<symbol>, then answers 202 {"accepted":n} like findash.
func (s *BareServer) serveTicks(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, bareMaxBody))
	if err != nil {
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	var ticks []bareTick
	if err := json.Unmarshal(body, &ticks); err != nil {
		http.Error(w, "not a JSON array of ticks", http.StatusBadRequest)
		return
	}
	var msg, frame []byte
	for _, t := range ticks {
		if t.Symbol == "" || len(t.Symbol) > 64 {
			continue
		}
		ch := s.channel("ticks:" + t.Symbol)
		ch.mu.Lock()
		ch.seq++
		msg = append(msg[:0], `{"type":"tick","channel":"ticks:`...)
		msg = append(msg, t.Symbol...)
		msg = append(msg, `","seq":`...)
		msg = strconv.AppendUint(msg, ch.seq, 10)
		msg = append(msg, `,"data":{"symbol":"`...)
		msg = append(msg, t.Symbol...)
		msg = append(msg, `","ts":`...)
		msg = append(msg, t.TS...)
		msg = append(msg, `,"price":`...)
		msg = append(msg, t.Price...)
		msg = append(msg, `,"size":`...)
		msg = append(msg, t.Size...)
		msg = append(msg, "}}"...)
		frame = appendFrame(frame[:0], msg)
		for _, c := range ch.conns {
			c.write(frame) // a failed write ends at the reader, which unsubscribes
		}
		ch.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"accepted":%d}`, len(ticks))
}

// appendFrame appends payload as one final, unmasked text frame (RFC 6455
// §5.2: a server's frames are not masked, so one buffer serves every
// client).
func appendFrame(b, payload []byte) []byte {
	n := len(payload)
	b = append(b, 0x81)
	switch {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xFFFF:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// RunBare serves a BareServer on addr until ctx ends, after writing one
// JSON line {"url":"http://host:port"} to out: the body of the hidden
// `findash bench ws-bare` that `bench ws --bare` starts as a child process
// (its own process, so that its CPU is read apart from the clients').
func RunBare(ctx context.Context, addr string, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("bare server: %w", err)
	}
	srv := &http.Server{Handler: NewBareServer().Handler(), ReadHeaderTimeout: 10 * time.Second}
	if err := json.NewEncoder(out).Encode(map[string]string{"url": "http://" + ln.Addr().String()}); err != nil {
		ln.Close()
		return fmt.Errorf("bare server: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("bare server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx) // hijacked connections are not waited for
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("bare server: %w", err)
	}
	return nil
}
