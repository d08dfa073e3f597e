package api

// Deadlines and concurrency per client on the public listener (issue 13
// item 10): how long a client may take to send a request head, a body and
// to take a response, how long a kept-alive connection may idle, and how
// many requests one address may have in flight. Deadlines are set on real
// sockets, which the kernel compares with the wall clock: they read
// time.Now, not the API's clock (Deps.Now, faked by tests for candle ranges).

import (
	"errors"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ConfigureServer sets srv's deadlines from the API's Config and a
// ConnState hook (chained after one srv already has) that follows each
// connection accepted through Listener, to count those closed at the
// header and idle deadlines. Use it on the http.Server that serves Handler.
//
// The body deadline is not http.Server.ReadTimeout: that one stays set
// while the handler runs, and when it passes, net/http's background read
// cancels the request's context, which would cut a long download. The API
// sets it per request instead, only while a body is being read.
func (a *API) ConfigureServer(srv *http.Server) {
	srv.ReadHeaderTimeout = a.cfg.HeaderTimeout
	srv.ReadTimeout = 0
	srv.WriteTimeout = a.cfg.WriteTimeout
	srv.IdleTimeout = a.cfg.IdleTimeout
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		a.conns.observe(c, s)
		if prev != nil {
			prev(c, s)
		}
	}
}

// Listener wraps ln, the public listener, so that the deadlines net/http
// enforces without a handler (a request head too slow, a kept-alive
// connection idle too long) are counted in findash_http_timeouts_total.
// Wrap the raw listener: other wrappers may go around it, and each must
// name the connection it wraps with a NetConn method (connlimit's and the
// gateway's front's do), or its connections are not followed.
func (a *API) Listener(ln net.Listener) net.Listener {
	return &trackedListener{Listener: ln, cs: a.conns}
}

// connStates follows the connections accepted through Listener. ConnState
// is given the outermost wrapper of a connection, not ours: observe finds
// ours by unwrapping (NetConn, as crypto/tls.Conn, connlimit and the
// gateway's front name the connection they wrap). It was keyed by remote
// address, formatted at every accept and every state change (issue 14:
// 3-5 % of a WebSocket connect's CPU, most of it that formatting).
type connStates struct {
	timeouts *prometheus.CounterVec
}

// trackedOf returns the trackedConn under c's wrappers, or nil (not
// accepted through Listener).
func trackedOf(c net.Conn) *trackedConn {
	for c != nil {
		if tc, ok := c.(*trackedConn); ok {
			return tc
		}
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = w.NetConn()
	}
	return nil
}

// observe records c's state: a read deadline passing while c waits for a
// request head (New, Idle) is a header or idle timeout; one while Active is
// the body's (counted where the body is read); hijacked connections (the
// WebSocket) keep their own deadlines and are no longer followed.
func (cs *connStates) observe(c net.Conn, s http.ConnState) {
	tc := trackedOf(c)
	if tc == nil {
		return // not accepted through Listener
	}
	switch s {
	case http.StateClosed, http.StateHijacked:
		tc.state.Store(int32(http.StateHijacked)) // no longer counted
	default:
		tc.readInState.Store(false)
		tc.state.Store(int32(s))
	}
}

type trackedListener struct {
	net.Listener
	cs *connStates
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, cs: l.cs}
	tc.state.Store(int32(http.StateNew))
	return tc, nil
}

type trackedConn struct {
	net.Conn
	cs          *connStates
	state       atomic.Int32 // http.ConnState, as last observed
	readInState atomic.Bool  // bytes read since the state was entered
	timedOut    atomic.Bool  // a read deadline passed (counted once)
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.readInState.Store(true)
	}
	if err == nil || !isTimeout(err) {
		return n, err
	}
	// While Active, a timeout is the body's (counted where it is read) or
	// net/http cancelling its own background read. Otherwise count once
	// per connection: net/http closes it, and may read again on the way.
	phase := ""
	switch http.ConnState(c.state.Load()) {
	case http.StateNew:
		phase = "header"
	case http.StateIdle:
		phase = "idle"
		if c.readInState.Load() {
			phase = "header"
		}
	}
	if phase != "" && !c.timedOut.Swap(true) {
		c.cs.timeouts.WithLabelValues(phase).Inc()
	}
	return n, err
}

// CloseWrite half-closes the socket, when it can: the WebSocket sends
// its FIN after a close frame this way (gateway/ws.go), and found
// nothing to call through the tracking before.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// SyscallConn exposes the socket under the tracking, as connlimit's
// connections do: the WebSocket gateway waits on it for readability with no
// buffer and no blocked read, and writes frames from its writer pool without
// waiting. Without it every WebSocket fell back to a blocked reader goroutine
// and a writer goroutine per delivery (issue 14: 2 goroutines per idle
// connection, the writer pool bypassed).
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// deadlineBody is a request body read under the body deadline. When the
// body is done (EOF or an error), the deadline is lifted, so net/http's
// background read, which watches for the client going away while the
// handler runs, does not hit it and cancel the request's context.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	a    *API
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.done = true
		if isTimeout(err) {
			b.a.m.timeouts.WithLabelValues("body").Inc()
		} else {
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	}
	return n, err
}

// bodyDeadline puts r's body, if it has one, under Config.BodyTimeout.
func (a *API) bodyDeadline(w http.ResponseWriter, r *http.Request) {
	if a.cfg.BodyTimeout <= 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(a.cfg.BodyTimeout)) != nil {
		return // not a server connection (a test's recorder)
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, a: a}
}

// isTimeout reports whether err is a deadline passing on the connection.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

func errRequestTimeout(d time.Duration) error {
	return &httpError{status: http.StatusRequestTimeout, code: "request_timeout",
		message: "the request body did not arrive within " + d.String(),
		header:  http.Header{"Connection": {"close"}}}
}

// copyResponse copies a long response (a report download) with the write
// deadline moved before each chunk: WriteTimeout then bounds a stall, not
// the whole transfer.
func (a *API) copyResponse(w http.ResponseWriter, src io.Reader) error {
	rc := http.NewResponseController(w)
	buf := make([]byte, 64<<10)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if a.cfg.WriteTimeout > 0 {
				_ = rc.SetWriteDeadline(time.Now().Add(a.cfg.WriteTimeout))
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

const inFlightShards = 32

// inFlight counts the requests in flight per client address. Bound: an
// entry exists only while its address has a request in flight, so there
// are at most as many as open connections.
type inFlight struct {
	max    int
	seed   maphash.Seed
	shards [inFlightShards]struct {
		mu sync.Mutex
		m  map[string]int
	}
}

func newInFlight(max int) *inFlight {
	f := &inFlight{max: max, seed: maphash.MakeSeed()}
	for i := range f.shards {
		f.shards[i].m = make(map[string]int)
	}
	return f
}

// acquire counts a request of ip and reports true, or reports false when
// ip already has max in flight.
func (f *inFlight) acquire(ip string) bool {
	s := &f.shards[maphash.String(f.seed, ip)%inFlightShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[ip] >= f.max {
		return false
	}
	s.m[ip]++
	return true
}

func (f *inFlight) release(ip string) {
	s := &f.shards[maphash.String(f.seed, ip)%inFlightShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[ip] <= 1 {
		delete(s.m, ip)
		return
	}
	s.m[ip]--
}

// exemptFromInFlight: health checks come from the load balancer's own
// address, which must not be starved by the clients it forwards.
func exemptFromInFlight(path string) bool {
	return path == "/livez" || path == "/readyz"
}
