package gateway

// Front's request, its ResponseWriter, and the connection it hands to
// net/http.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// request builds the *http.Request net/http would for h on c, with the
// same context values (the server, the local address, ConnContext's).
// Without a BaseContext the context descends from hctx, which Shutdown
// cancels when it gives up waiting, and net/http's two values are held by
// one context: three allocations and a registration fewer per connect
// than a context.AfterFunc on hctx and two context.WithValue (issue 14).
func (f *Front) request(c net.Conn, h frontHead) (*http.Request, context.CancelFunc) {
	ctx := f.hctx
	if f.srv.BaseContext != nil {
		ctx = f.srv.BaseContext(f)
	}
	ctx = &connValues{Context: ctx, srv: f.srv, local: c.LocalAddr()}
	if f.srv.ConnContext != nil {
		ctx = f.srv.ConnContext(ctx, c)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := (&http.Request{
		Method: http.MethodGet, URL: h.url, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h.header, Body: http.NoBody, Host: h.host, Close: h.close,
		RemoteAddr: addrString(c.RemoteAddr()), RequestURI: h.target,
	}).WithContext(ctx)
	if f.srv.BaseContext == nil {
		return r, cancel
	}
	stop := context.AfterFunc(f.hctx, cancel) // Shutdown gave up waiting
	return r, func() { stop(); cancel() }
}

// addrString is a.String() with one allocation for a TCP address:
// net.TCPAddr's formats the IP, then joins it with the port (two or three,
// per connect, issue 14). A v4-in-v6 address prints as IPv4, as net.IP's.
func addrString(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta == nil || len(ta.IP) == 0 || ta.Port < 0 || ta.Port > 0xffff {
		return a.String()
	}
	ap := ta.AddrPort()
	if ip := ap.Addr(); ip.Is4In6() {
		ap = netip.AddrPortFrom(ip.Unmap(), ap.Port())
	}
	var buf [48]byte
	return string(ap.AppendTo(buf[:0]))
}

// connValues holds the values net/http puts in a request's context:
// http.ServerContextKey and http.LocalAddrContextKey.
type connValues struct {
	context.Context
	srv   *http.Server
	local net.Addr
}

func (v *connValues) Value(key any) any {
	switch key {
	case http.ServerContextKey:
		return v.srv
	case http.LocalAddrContextKey:
		return v.local
	}
	return v.Context.Value(key)
}

// frontResponse is the ResponseWriter of a request Front serves: Hijack
// hands the socket over; anything else written is answered, when the
// handler returns, as net/http answers a GET whose handler has finished.
type frontResponse struct {
	f             *Front
	c             net.Conn
	req           *http.Request
	rest          []byte // bytes read after the head (early data for the hijacker)
	handlerHeader http.Header
	header        http.Header // as at WriteHeader
	status        int
	body          []byte
	hijacked      bool
}

func (w *frontResponse) Header() http.Header { return w.handlerHeader }

func (w *frontResponse) WriteHeader(code int) {
	if w.hijacked || w.status != 0 {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code)) // as net/http
	}
	if code < 200 { // informational: nothing a WebSocket refusal sends
		return
	}
	w.status = code
	w.header = w.handlerHeader.Clone()
}

// maxFrontBody bounds a refusal's body (the handlers write a line of JSON).
const maxFrontBody = 64 << 10

func (w *frontResponse) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if len(w.body)+len(p) > maxFrontBody {
		return 0, errors.New("gateway: response body over 64 KiB")
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

// Hijack hands the connection over, with the bytes read after the head
// buffered in the reader (the Hub refuses them: early data), and its
// deadlines cleared, as net/http's Hijack does.
func (w *frontResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.status != 0 {
		return nil, nil, errors.New("gateway: Hijack after WriteHeader")
	}
	w.hijacked = true
	_ = w.c.SetDeadline(time.Time{})
	if w.f.srv.ConnState != nil {
		w.f.srv.ConnState(w.c, http.StateHijacked)
	}
	hb := new(hijackBufs) // one allocation for the reader, the writer and their pair
	if len(w.rest) > 0 {
		hb.r = *bufio.NewReaderSize(io.MultiReader(bytes.NewReader(w.rest), w.c), len(w.rest))
		_, _ = hb.r.Peek(len(w.rest))
	} else {
		hb.r = *bufio.NewReaderSize(w.c, 16)
	}
	hb.w = *bufio.NewWriterSize(w.c, 16)
	hb.rw = bufio.ReadWriter{Reader: &hb.r, Writer: &hb.w}
	return w.c, &hb.rw, nil
}

// hijackBufs is what Hijack returns besides the connection: net/http's
// contract wants a ReadWriter, which the Hub only asks whether the client
// sent early data. Five allocations per connect were three structs and
// two 16-byte buffers; the structs are one here (issue 14).
type hijackBufs struct {
	r  bufio.Reader
	w  bufio.Writer
	rw bufio.ReadWriter
}

// finish writes the response as net/http would for a finished handler of
// a GET by HTTP/1.1 (Content-Length, Date, a sniffed Content-Type,
// Connection: close when either side asked) and reports whether the
// connection stays open.
func (w *frontResponse) finish() (keep bool, err error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	hdr := w.header
	keep = !w.req.Close && !headerHasToken(hdr["Connection"], "close") && !w.f.isClosed()
	b := make([]byte, 0, 256+len(w.body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	if text := http.StatusText(w.status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(w.status), 10)
	}
	b = append(b, "\r\n"...)
	var extra []string
	if bodyAllowed(w.status) {
		if _, ok := hdr["Content-Length"]; !ok {
			extra = append(extra, "Content-Length", strconv.Itoa(len(w.body)))
		}
		if _, ok := hdr["Content-Type"]; !ok && hdr.Get("Content-Encoding") == "" && len(w.body) > 0 {
			extra = append(extra, "Content-Type", http.DetectContentType(w.body))
		}
	} else {
		hdr.Del("Content-Length")
		hdr.Del("Transfer-Encoding")
	}
	if !keep && !headerHasToken(hdr["Connection"], "close") {
		hdr.Del("Connection")
		extra = append(extra, "Connection", "close")
	}
	if _, ok := hdr["Date"]; !ok {
		extra = append([]string{"Date", time.Now().UTC().Format(http.TimeFormat)}, extra...)
	}
	buf := bytes.NewBuffer(b)
	_ = hdr.Write(buf)
	for i := 0; i < len(extra); i += 2 {
		buf.WriteString(extra[i] + ": " + extra[i+1] + "\r\n")
	}
	buf.WriteString("\r\n")
	buf.Write(w.body)
	_ = w.c.SetWriteDeadline(time.Now().Add(w.f.cfg.WriteTimeout))
	if _, err := w.c.Write(buf.Bytes()); err != nil {
		return false, err
	}
	return keep, nil
}

// bodyAllowed is net/http's bodyAllowedForStatus.
func bodyAllowed(status int) bool {
	return !(status >= 100 && status <= 199 || status == http.StatusNoContent || status == http.StatusNotModified)
}

// handedConn is a connection handed to net/http: buf, the bytes Front
// read, are read first, then err (the error that ended Front's read), then
// the socket. net/http's first read deadline is held to the head's
// deadline, so that a head read partly here gets no more time in all.
type handedConn struct {
	net.Conn
	buf      []byte
	err      error
	deadline time.Time // zero: none to hold to
	held     bool      // the first SetReadDeadline has been held to deadline
}

func (c *handedConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	if c.err != nil {
		err := c.err
		c.err = nil
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *handedConn) SetReadDeadline(t time.Time) error {
	if !c.held && !t.IsZero() {
		c.held = true
		if !c.deadline.IsZero() && t.After(c.deadline) {
			t = c.deadline
		}
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline goes through SetReadDeadline's hold.
func (c *handedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// NetConn returns the connection Front accepted. Required: connlimit's
// ConnContext and the API's connection tracking look through it (api's
// TestPublicChainTracking).
func (c *handedConn) NetConn() net.Conn { return c.Conn }

// SyscallConn exposes the socket, once the bytes read here are consumed
// (until then the gateway must read through Read, not the socket).
func (c *handedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok || len(c.buf) > 0 {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// CloseWrite ends the sending direction, when the socket can.
func (c *handedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// frontMetrics counts the connections Front served and handed over.
type frontMetrics struct {
	served, handoffs prometheus.Counter
}

func newFrontMetrics(reg prometheus.Registerer) frontMetrics {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "findash_ws_front_requests_total",
		Help: "Requests on the public listener: heads served by the WebSocket front (upgrade GET /ws heads it parses), or connections handed to net/http (every other head, and a request pipelined after one the front served; a connection closed with nothing read is neither).",
	}, []string{"path"})
	if reg != nil {
		reg.MustRegister(c)
	}
	return frontMetrics{served: c.WithLabelValues("front"), handoffs: c.WithLabelValues("net_http")}
}
