package gateway

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// stallListener hands out connections whose first SetReadDeadline
// blocks until release is closed (after telling entered): it widens the
// window between the front's tracking of a connection and its deadline.
type stallListener struct {
	net.Listener
	entered, release chan struct{}
}

func (l *stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &stallConn{Conn: c, l: l}, nil
}

type stallConn struct {
	net.Conn
	l       *stallListener
	stalled bool
}

func (c *stallConn) SetReadDeadline(t time.Time) error {
	if !c.stalled { // only the serving goroutine's first call
		c.stalled = true
		close(c.l.entered)
		<-c.l.release
	}
	return c.Conn.SetReadDeadline(t)
}

// TestFrontCloseDuringHeadDeadline: Close between the front's tracking
// of a connection and its setting of the head's deadline still ends the
// wait for the head at once (the connection is closed), instead of
// HeaderTimeout later.
func TestFrontCloseDuringHeadDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl := &stallListener{Listener: ln, entered: make(chan struct{}), release: make(chan struct{})}
	h := New(market.NewState(), Config{}, nil, prometheus.NewRegistry())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	f := NewFront(sl, srv, FrontConfig{}, nil, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(f) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-sl.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the front never set a read deadline")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	close(sl.release)
	<-served
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	n, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open %v after Close (the head's deadline overwrote Close's)", time.Since(start))
	}
	if n != 0 || err == nil {
		t.Fatalf("read %d, %v; want the connection closed", n, err)
	}
}
