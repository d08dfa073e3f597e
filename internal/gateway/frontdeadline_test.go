package gateway

import (
	"bufio"
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// gateListener accepts only once a test lets it (so that a client's head
// is already in the socket), and counts the read deadlines armed on the
// connections it returns.
type gateListener struct {
	net.Listener
	open  chan struct{}
	armed atomic.Int32
}

func (l *gateListener) Accept() (net.Conn, error) {
	<-l.open
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &armCounter{TCPConn: c.(*net.TCPConn), l: l}, nil
}

type armCounter struct {
	*net.TCPConn
	l *gateListener
}

func (c *armCounter) SetReadDeadline(t time.Time) error {
	if !t.IsZero() {
		c.l.armed.Add(1)
	}
	return c.TCPConn.SetReadDeadline(t)
}

func (c *armCounter) SetDeadline(t time.Time) error {
	if !t.IsZero() {
		c.l.armed.Add(1)
	}
	return c.TCPConn.SetDeadline(t)
}

// TestFrontHeadArrivedArmsNoDeadline: a head that has arrived whole with
// its connection is read without arming the header deadline (which the
// hijack would only clear again: two timer updates per connect, issue 14);
// a head still arriving is read under it, as before.
func TestFrontHeadArrivedArmsNoDeadline(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	head := "GET /ws?subscribe=ticks:X HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n"
	for _, tc := range []struct {
		name  string
		split int // bytes sent before the accept; the rest after
		armed int32
	}{
		{"whole", len(head), 0},
		{"partial", 20, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			gl := &gateListener{Listener: inner, open: make(chan struct{})}
			h := New(market.NewState(), Config{}, nil, prometheus.NewRegistry())
			var seen atomic.Int32
			seen.Store(-1)
			srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.Store(gl.armed.Load())
				h.ServeHTTP(w, r)
			})}
			f := NewFront(gl, srv, FrontConfig{}, nil, nil)
			var wg sync.WaitGroup
			wg.Go(func() { _ = srv.Serve(f) })
			ctx, cancel := context.WithCancel(context.Background())
			wg.Go(func() { _ = h.Run(ctx) })
			defer func() {
				_ = h.Drain(context.Background())
				_ = srv.Close()
				cancel()
				wg.Wait()
			}()
			nc, err := net.Dial("tcp", inner.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Write([]byte(head[:tc.split])); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // on loopback, in the server's socket by now
			close(gl.open)
			if tc.split < len(head) {
				time.Sleep(50 * time.Millisecond) // the front waits for the rest
				if _, err := nc.Write([]byte(head[tc.split:])); err != nil {
					t.Fatal(err)
				}
			}
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake: %v %v", resp, err)
			}
			if got := seen.Load(); got != tc.armed {
				t.Errorf("read deadlines armed before the handler: %d, want %d", got, tc.armed)
			}
		})
	}
}

// TestFrontHijackAllocs: Hijack of a request with no early data allocates
// its reader, writer and their pair as one value, plus their two 16-byte
// buffers (was five allocations), and the pair reads and writes the socket.
func TestFrontHijackAllocs(t *testing.T) {
	f := &Front{srv: &http.Server{}, done: make(chan struct{})}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w := &frontResponse{f: f, c: a}
	n := testing.AllocsPerRun(100, func() {
		w.hijacked = false
		if _, _, err := w.Hijack(); err != nil {
			t.Fatal(err)
		}
	})
	if n > 3 {
		t.Errorf("Hijack: %v allocations, want at most 3", n)
	}
	w.hijacked = false
	_, brw, err := w.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = b.Write([]byte("hi")) }()
	if got, err := brw.ReadString('i'); got != "hi" || err != nil {
		t.Errorf("read %q %v", got, err)
	}
	if brw.Reader.Buffered() != 0 {
		t.Errorf("buffered %d", brw.Reader.Buffered())
	}
}

// TestAddrString: a request's RemoteAddr reads as net.TCPAddr's String,
// with one allocation.
func TestAddrString(t *testing.T) {
	for _, s := range []string{"127.0.0.1:8080", "[::1]:80", "[fe80::1%eth0]:443", "[::ffff:10.0.0.1]:1", "[2001:db8::1:0:0:1]:65535", "0.0.0.0:0"} {
		ta, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := addrString(ta), ta.String(); got != want {
			t.Errorf("addrString(%s) = %q, want %q", s, got, want)
		}
	}
	v4in6 := &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 9} // 16 bytes
	if got, want := addrString(v4in6), v4in6.String(); got != want {
		t.Errorf("addrString(v4 in v6) = %q, want %q", got, want)
	}
	for _, a := range []net.Addr{&net.TCPAddr{}, &net.UnixAddr{Name: "/s", Net: "unix"}, pipeAddr{}} {
		if got, want := addrString(a), a.String(); got != want {
			t.Errorf("addrString(%#v) = %q, want %q", a, got, want)
		}
	}
	ta := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 51234}
	if n := testing.AllocsPerRun(100, func() { _ = addrString(ta) }); n > 1 {
		t.Errorf("addrString: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = ta.String() }); n <= 1 {
		t.Logf("net.TCPAddr.String: %v allocations (no longer more)", n)
	}
}
