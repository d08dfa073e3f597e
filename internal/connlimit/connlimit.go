// Package connlimit caps the connections a net.Listener hands out, in total
// and per client address, so that no client can take the process's file
// descriptors: at the cap, accepting fails with EMFILE and even the health
// check waits in the kernel's backlog (issue 13 item 8).
//
// The total cap defaults to the process's open-file limit minus a reserve
// held back for everything else (the admin listener's /metrics, the
// database, NATS, files). A connection over a cap is not left in the
// backlog: while few such connections are open (overflowMax) it is
// accepted as an overflow connection, which Restrict lets reach only the
// health paths (/readyz answers at the cap) and answers 503 otherwise,
// with a short deadline; beyond that it is closed at once. When accept
// itself runs out of descriptors, a spare one is given up to accept and
// close the waiting connection, so the backlog never stalls.
//
// Client addresses are counted per IPv4 address and per IPv6 /64 (one
// host's usual allocation). Behind a load balancer the peer is the
// balancer: the per-address cap must then be off.
//
// Concurrency: a Listener is safe for concurrent use; one mutex guards the
// counts, taken once per accept and once per close.
//
// It imports only the standard library and the Prometheus client, nothing
// of findash.
package connlimit

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config holds a Listener's limits. The zero value of every field selects
// the default written next to it.
type Config struct {
	// Max is the most connections open at once (overflow connections
	// apart). Default (0): the open-file limit minus Reserve; a larger
	// value is lowered to that.
	Max int
	// MaxPerIP is the most connections open at once from one IPv4 address
	// or IPv6 /64. 0: no limit.
	MaxPerIP int
	// Reserve is how many file descriptors Max keeps free for the rest of
	// the process. Default 256.
	Reserve int
	// OverflowTimeout bounds the life of an overflow connection (reading
	// the request and writing the answer). Default 2s.
	OverflowTimeout time.Duration
	// Now is the clock of the overflow deadlines. Default time.Now.
	Now func() time.Time
}

// overflowMax is how many overflow connections may be open at once: enough
// for health checks and load balancers, a small share of the reserve.
const overflowMax = 32

// Listener is a net.Listener that enforces Config's caps.
type Listener struct {
	net.Listener
	cfg Config
	max int

	spareMu sync.Mutex // guards spare and closed; never held while accepting
	spare   *os.File   // given up to accept (and close) a connection when out of descriptors
	closed  bool

	mu    sync.Mutex
	open  int // connections within the caps
	over  int // overflow connections
	perIP map[netip.Prefix]int

	met metrics
}

// New wraps ln. reg may be nil (no metrics).
func New(ln net.Listener, cfg Config, reg prometheus.Registerer) *Listener {
	if cfg.Reserve <= 0 {
		cfg.Reserve = 256
	}
	if cfg.OverflowTimeout <= 0 {
		cfg.OverflowTimeout = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Listener{Listener: ln, cfg: cfg, perIP: make(map[netip.Prefix]int), met: newMetrics(reg)}
	l.max = fdMax(cfg.Reserve)
	if cfg.Max > 0 && cfg.Max < l.max {
		l.max = cfg.Max
	}
	l.met.limit.Set(float64(l.max))
	l.spare, _ = os.Open(os.DevNull)
	return l
}

// fdMax is the open-file limit minus reserve (at least 1); without a limit
// to read, a large number.
func fdMax(reserve int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 30
	}
	return max(1, int(rl.Cur)-reserve)
}

// Max returns the total cap in force.
func (l *Listener) Max() int { return l.max }

// Accept returns the next connection within the caps, or an overflow
// connection (see Restrict); connections over the caps beyond those are
// closed here.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if l.shed(err) {
				continue
			}
			return nil, err
		}
		key := prefixOf(c.RemoteAddr())
		l.mu.Lock()
		reason := ""
		switch {
		case l.open >= l.max:
			reason = "total"
		case l.cfg.MaxPerIP > 0 && l.perIP[key] >= l.cfg.MaxPerIP:
			reason = "per_ip"
		}
		if reason == "" {
			l.open++
			l.perIP[key]++
			l.mu.Unlock()
			l.met.open.Inc()
			return &conn{Conn: c, l: l, key: key}, nil
		}
		overflow := l.over < overflowMax
		if overflow {
			l.over++
		}
		l.mu.Unlock()
		l.met.refused.WithLabelValues(reason).Inc()
		if !overflow {
			c.Close()
			continue
		}
		oc := &conn{Conn: c, l: l, key: key, overflow: true, deadline: l.cfg.Now().Add(l.cfg.OverflowTimeout)}
		_ = c.SetDeadline(oc.deadline)
		return oc, nil
	}
}

// shed handles an accept error: out of file descriptors, it gives up the
// spare descriptor to accept the waiting connection and close it at once
// (so the backlog does not stall), and reports true. Other errors are the
// caller's.
func (l *Listener) shed(err error) bool {
	if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
		return false
	}
	l.met.refused.WithLabelValues("fds").Inc()
	l.spareMu.Lock()
	spare := l.spare
	l.spare = nil
	l.spareMu.Unlock()
	if spare == nil {
		return false // http.Server backs off and retries
	}
	spare.Close()
	if c, err := l.Listener.Accept(); err == nil {
		c.Close()
	}
	spare, _ = os.Open(os.DevNull)
	l.spareMu.Lock()
	if l.closed {
		spare.Close()
	} else {
		l.spare = spare
	}
	l.spareMu.Unlock()
	return true
}

// Close closes the listener and its spare descriptor.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	l.spareMu.Lock()
	l.closed = true
	if l.spare != nil {
		l.spare.Close()
		l.spare = nil
	}
	l.spareMu.Unlock()
	return err
}

func (l *Listener) release(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.overflow {
		l.over--
		return
	}
	l.open--
	if n := l.perIP[c.key] - 1; n > 0 {
		l.perIP[c.key] = n
	} else {
		delete(l.perIP, c.key)
	}
	l.met.open.Dec()
}

// prefixOf is the client key of addr: its IPv4 address, or its IPv6 /64.
func prefixOf(addr net.Addr) netip.Prefix {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// conn is an accepted connection; closing it frees its place.
type conn struct {
	net.Conn
	l        *Listener
	key      netip.Prefix
	overflow bool
	deadline time.Time // overflow: no deadline may be set past it
	closed   atomic.Bool
}

func (c *conn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c)
	}
	return c.Conn.Close()
}

// SetDeadline, SetReadDeadline and SetWriteDeadline keep an overflow
// connection's deadlines within its short life (net/http sets its own).
func (c *conn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.clamp(t)) }

func (c *conn) clamp(t time.Time) time.Time {
	if c.overflow && (t.IsZero() || t.After(c.deadline)) {
		return c.deadline
	}
	return t
}

// NetConn returns the connection c wraps. Required: the API's connection
// tracking finds its own under c this way, and without it counts every
// read deadline passing as a client's header timeout (api's
// TestPublicChainTracking).
func (c *conn) NetConn() net.Conn { return c.Conn }

// SyscallConn exposes the socket (the WebSocket gateway waits on it for
// readability without a buffer).
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// CloseWrite half-closes the socket (net/http does, to let a client read
// its last answer before the connection goes).
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

type ctxKey struct{}

// ConnContext is the http.Server's ConnContext: it marks the requests of an
// overflow connection for Restrict. It looks through wrappers that name
// the connection they wrap with NetConn (as crypto/tls.Conn does, and the
// gateway's Front for the connections it hands to net/http).
func (l *Listener) ConnContext(ctx context.Context, c net.Conn) context.Context {
	for {
		if oc, ok := c.(*conn); ok {
			if oc.overflow {
				return context.WithValue(ctx, ctxKey{}, true)
			}
			return ctx
		}
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return ctx
		}
		c = w.NetConn()
	}
}

// Restrict lets the requests of overflow connections reach h only for the
// given paths (health checks), and answers every other one 503 with
// Retry-After and the API's JSON error body. Either way the connection
// closes after the answer. The http.Server must use l.ConnContext.
func Restrict(h http.Handler, paths ...string) http.Handler {
	allowed := make(map[string]bool, len(paths))
	for _, p := range paths {
		allowed[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if over, _ := r.Context().Value(ctxKey{}).(bool); !over {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Connection", "close")
		if allowed[r.URL.Path] && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"too many connections; retry shortly"}}` + "\n"))
	})
}
