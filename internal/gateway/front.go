package gateway

// Front serves the WebSocket upgrades of the public listener before
// net/http (decision 0058). A connect through net/http cost ~14 KB of
// garbage (its 4 KiB read and write buffers, handed to the hijacker and
// never pooled again, the response's), a background read started and
// aborted, and a deep stack per connection; here the head is read into a
// pooled buffer, parsed (fronthead.go) and given to the same handler
// net/http would run (the API's middleware, its limits and metrics, then
// the Hub), with a ResponseWriter whose Hijack hands the socket over.
// Every other connection — another request, a head Front does not parse,
// a keep-alive connection after a refused upgrade — is handed to net/http
// with the bytes already read, and net/http serves it as if it had read
// them itself.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FrontConfig tunes Front. Zero fields take the defaults documented on each.
type FrontConfig struct {
	// Path is the one path upgraded here. Default "/ws".
	Path string
	// HeaderTimeout bounds reading a request head, as the server's
	// ReadHeaderTimeout does (a head handed to net/http keeps what is
	// left of it). Default: the server's ReadHeaderTimeout, else 10 s.
	HeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a connection
	// kept alive after a refused upgrade. Default: the server's
	// IdleTimeout, else 120 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds writing a refusal. Default: the server's
	// WriteTimeout, else 60 s.
	WriteTimeout time.Duration
	// MaxHeadBytes bounds the head read here; a longer one is handed to
	// net/http (with its own, larger, limit). Default 8 KiB.
	MaxHeadBytes int
	// MaxHeaders bounds the header lines of a head served here; a head
	// with more is handed to net/http. Default 32.
	MaxHeaders int
}

// Front is a net.Listener for an http.Server: it accepts from the
// listener it wraps, serves GET Path upgrades with the server's Handler
// itself, and returns every other connection from Accept. Build it with
// NewFront; the server's Serve runs it.
type Front struct {
	ln  net.Listener
	srv *http.Server
	cfg FrontConfig
	log *slog.Logger
	met frontMetrics

	start   sync.Once
	handoff chan net.Conn // to net/http's Accept
	errc    chan error    // the wrapped listener's Accept errors, to net/http's
	done    chan struct{} // closed by Close

	// hctx is the parent of the requests' contexts: Shutdown cancels
	// it when its own context ends with handlers still running.
	hctx    context.Context
	hcancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	reading map[net.Conn]struct{} // connections waiting for a head here
	active  int                   // handlers running (from a head read until serveHead returns)
	quiet   chan struct{}         // closed when reading and active are both empty (made by Shutdown)
}

// NewFront returns a Front over ln for srv, whose Handler, ConnContext,
// ConnState, BaseContext, ErrorLog and timeouts it uses as net/http
// would. Set them before. It registers its metrics on reg (nil: not
// registered) and starts no goroutine until the first Accept.
func NewFront(ln net.Listener, srv *http.Server, cfg FrontConfig, log *slog.Logger, reg prometheus.Registerer) *Front {
	def := func(d *time.Duration, srvd, v time.Duration) {
		if *d <= 0 {
			*d = srvd
		}
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.HeaderTimeout, srv.ReadHeaderTimeout, 10*time.Second)
	def(&cfg.IdleTimeout, srv.IdleTimeout, 120*time.Second)
	def(&cfg.WriteTimeout, srv.WriteTimeout, 60*time.Second)
	if cfg.Path == "" {
		cfg.Path = "/ws"
	}
	if cfg.MaxHeadBytes <= 0 {
		cfg.MaxHeadBytes = 8 << 10
	}
	if cfg.MaxHeaders <= 0 {
		cfg.MaxHeaders = 32
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hctx, hcancel := context.WithCancel(context.Background())
	return &Front{
		ln: ln, srv: srv, cfg: cfg, log: log, met: newFrontMetrics(reg), hctx: hctx, hcancel: hcancel,
		handoff: make(chan net.Conn), errc: make(chan error), done: make(chan struct{}),
		reading: make(map[net.Conn]struct{}),
	}
}

// Accept returns the next connection for net/http.
func (f *Front) Accept() (net.Conn, error) {
	f.start.Do(func() { go f.acceptLoop() })
	select {
	case c := <-f.handoff:
		return c, nil
	case err := <-f.errc:
		return nil, err
	case <-f.done:
		return nil, net.ErrClosed
	}
}

// Addr is the wrapped listener's.
func (f *Front) Addr() net.Addr { return f.ln.Addr() }

// Close closes the wrapped listener and ends the waits for a head here
// (net/http's Shutdown closes idle connections the same way); upgrades
// under way finish (the Hub refuses them while draining).
func (f *Front) Close() error {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		close(f.done)
		for c := range f.reading {
			// Closed, not woken with a past deadline: a read timeout
			// would be counted as the client's (api's header timeouts).
			_ = c.Close()
		}
	}
	f.mu.Unlock()
	return f.ln.Close()
}

func (f *Front) isClosed() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// acceptLoop accepts and serves each connection on a goroutine of its
// own; an error is passed to net/http's Accept, which backs off (and
// calls again) on a temporary one and ends Serve on another.
func (f *Front) acceptLoop() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			select {
			case f.errc <- err:
			case <-f.done:
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !errors.Is(err, net.ErrClosed) && isTemporary(err) {
				continue
			}
			return
		}
		go f.serve(c)
	}
}

// isTemporary is net/http's test for an Accept error worth retrying.
func isTemporary(err error) bool {
	te, ok := err.(interface{ Temporary() bool })
	return ok && te.Temporary()
}

// track adds c to the connections Close wakes; false: closed.
func (f *Front) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.reading[c] = struct{}{}
	return true
}

// untrack removes c from them; served: a handler is to run on it, counted
// (under the same lock, so that Shutdown never sees neither).
func (f *Front) untrack(c net.Conn, served bool) {
	f.mu.Lock()
	delete(f.reading, c)
	if served {
		f.active++
	}
	f.quietLocked()
	f.mu.Unlock()
}

// setReadDeadline sets the read deadline of c, a connection tracked
// for Close, to d, and closes c if Close has run: Close between track
// and here must not leave c waiting HeaderTimeout or IdleTimeout after
// shutdown (Close closes done before it closes the tracked connections,
// so one of the two closes c).
func (f *Front) setReadDeadline(c net.Conn, d time.Time) {
	_ = c.SetReadDeadline(d)
	if f.isClosed() {
		_ = c.Close()
	}
}

// headPool holds the buffers heads are read into (MaxHeadBytes each).
var headPool sync.Pool

// serve reads request heads from c until one is not served here: each
// GET Path head parsed is served by the handler; the connection is then
// the handler's (upgraded), closed, or read again (kept alive).
func (f *Front) serve(c net.Conn) {
	growStack(0)
	first := true
	for {
		bp, _ := headPool.Get().(*[]byte)
		if bp == nil || cap(*bp) < f.cfg.MaxHeadBytes {
			b := make([]byte, 0, f.cfg.MaxHeadBytes)
			bp = &b
		}
		b, h, ok, deadline, err := f.readHead(c, (*bp)[:0], first)
		if !ok {
			f.handOff(c, b, err, deadline)
			*bp = b[:0]
			headPool.Put(bp)
			return
		}
		var rest []byte // early data, or a pipelined request: rare
		if len(b) > h.n {
			rest = append(rest, b[h.n:]...)
		}
		*bp = b[:0]
		headPool.Put(bp)
		f.met.served.Inc()
		if !f.serveHead(c, h, rest) {
			return
		}
		first = false
	}
}

// growStack grows the calling goroutine's stack from the runtime's 2 KiB to
// 8 KiB at once, while the goroutine is still shallow: a connect's handler
// chain (the head's deadline, the API's middleware, the Hub, the snapshot's
// encoding) needs ~8 KiB, and the stack grown to it on the way, twice and
// deep, cost 5-8 % of a connect's CPU in copying and unwinding frames
// (issue 14). The stack is freed with the goroutine, at upgrade: an idle
// WebSocket's reader starts from 2 KiB.
//
//go:noinline
func growStack(i int) byte {
	var pad [6 << 10]byte // 6 KiB + the guard does not fit 4 KiB: one doubling to 8 KiB
	return pad[i]         // indexed by a parameter: the array stays in the frame
}

// readHead reads a head into b. ok: a GET Path head, parsed in h. Else b
// holds what was read (for net/http), err the read's error if that is
// why, and deadline the head's (zero: a kept-alive connection's idle wait
// ended without a byte, and b is empty).
func (f *Front) readHead(c net.Conn, b []byte, first bool) (_ []byte, h frontHead, ok bool, deadline time.Time, err error) {
	if !f.track(c) {
		return b, h, false, deadline, net.ErrClosed
	}
	defer func() { f.untrack(c, ok) }()
	if first {
		deadline = time.Now().Add(f.cfg.HeaderTimeout)
		// A new connection's head has nearly always arrived with it: read
		// it without waiting, and arm the deadline only when there is
		// still something to wait for. Arming it, and clearing it again at
		// the hijack, were two runtime timer updates per connect (issue
		// 14). A head handed to net/http keeps the deadline (handedConn).
		if sc, isSC := c.(syscall.Conn); isSC {
			if rc, err := sc.SyscallConn(); err == nil {
				b = b[:readNow(rc, b[:cap(b)])]
				if h, ok, done := f.headDone(b, nil); done {
					return b, h, ok, deadline, nil
				}
			}
		}
		f.setReadDeadline(c, deadline)
	} else {
		f.setReadDeadline(c, time.Now().Add(f.cfg.IdleTimeout))
	}
	for {
		n, rerr := c.Read(b[len(b):cap(b)])
		if n > 0 && deadline.IsZero() { // the first byte after an idle wait: the head's deadline starts
			deadline = time.Now().Add(f.cfg.HeaderTimeout)
			f.setReadDeadline(c, deadline)
		}
		b = b[:len(b)+n]
		if h, ok, done := f.headDone(b, rerr); done {
			return b, h, ok, deadline, rerr
		}
	}
}

// handOff gives c to net/http, b first. A read error is returned after b
// (net/http then answers or closes as it would); a connection whose idle
// wait ended with nothing read is closed, as net/http closes it.
func (f *Front) handOff(c net.Conn, b []byte, err error, deadline time.Time) {
	if len(b) == 0 && (err != nil || deadline.IsZero()) {
		f.closeConn(c)
		return
	}
	hc := &handedConn{Conn: c, buf: append([]byte(nil), b...), err: err, deadline: deadline}
	select {
	case f.handoff <- hc:
		f.met.handoffs.Inc()
	case <-f.done:
		f.closeConn(c)
	}
}

// closeConn closes a connection no one else has, and tells the server's
// ConnState hook, as net/http does.
func (f *Front) closeConn(c net.Conn) {
	_ = c.Close()
	if f.srv.ConnState != nil {
		f.srv.ConnState(c, http.StateClosed)
	}
}

// serveHead runs the handler on h; true: c is kept alive, read the next head.
func (f *Front) serveHead(c net.Conn, h frontHead, rest []byte) bool {
	defer f.handlerDone()
	if f.srv.ConnState != nil {
		f.srv.ConnState(c, http.StateActive)
	}
	r, cancel := f.request(c, h)
	defer cancel()
	w := &frontResponse{f: f, c: c, req: r, rest: rest, handlerHeader: make(http.Header, 4)}
	if !f.runHandler(w, r) {
		f.closeConn(c)
		return false
	}
	if w.hijacked {
		return false
	}
	if keep, err := w.finish(); err != nil || !keep {
		f.closeConn(c)
		return false
	}
	if len(rest) > 0 { // a pipelined request: net/http's
		f.handOff(c, rest, nil, time.Now().Add(f.cfg.HeaderTimeout))
		return false
	}
	if f.srv.ConnState != nil {
		f.srv.ConnState(c, http.StateIdle)
	}
	return true
}

// runHandler calls the server's handler; false: it panicked (logged
// unless http.ErrAbortHandler, as net/http does).
func (f *Front) runHandler(w http.ResponseWriter, r *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
				f.log.Error("panic serving a websocket upgrade", "panic", p, "remote", r.RemoteAddr)
			}
			ok = false
		}
	}()
	h := f.srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	h.ServeHTTP(w, r)
	return true
}
