package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
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
	// Serve, ending on the closed front, closes it too (its deferred
	// Close) and may close the listener first.
	if err := f.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
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

// TestFrontShutdownWaitsForHandlers: Shutdown waits for a handler the
// front runs (net/http's Shutdown does not see it) and, when its context
// ends first, cancels the request's context and says so — with the
// server's BaseContext too, whose requests do not descend from the
// front's context (a context.AfterFunc cancels them).
func TestFrontShutdownWaitsForHandlers(t *testing.T) {
	t.Run("no BaseContext", func(t *testing.T) { testFrontShutdownWaits(t, nil) })
	t.Run("BaseContext", func(t *testing.T) {
		testFrontShutdownWaits(t, func(net.Listener) context.Context {
			return context.WithValue(context.Background(), baseKey{}, "base")
		})
	})
}

// baseKey is a value of the test's BaseContext, which the request's
// context must carry.
type baseKey struct{}

func testFrontShutdownWaits(t *testing.T, base func(net.Listener) context.Context) {
	entered := make(chan context.Context, 1)
	release := make(chan struct{})
	returned := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- r.Context()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		close(returned)
		http.Error(w, "no", http.StatusUnauthorized)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, BaseContext: base}
	f := NewFront(ln, srv, FrontConfig{}, nil, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(f) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	var rctx context.Context
	select {
	case rctx = <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler never ran")
	}
	if base != nil {
		want := base(ln).Value(baseKey{})
		if got := rctx.Value(baseKey{}); got != want {
			t.Fatalf("request context's BaseContext value %v, want %v", got, want)
		}
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-served
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with the handler running: %v", err)
	}
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("the request's context was not cancelled")
	}
	if !errors.Is(rctx.Err(), context.Canceled) {
		t.Fatalf("request context: %v", rctx.Err())
	}
	if err := f.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown after the handler returned: %v", err)
	}
	close(release)
}

// timeoutListener records whether a read on a connection it accepted
// ended with a timeout (api's tracking counts those as the client's).
type timeoutListener struct {
	net.Listener
	timedOut atomic.Bool
}

func (l *timeoutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &timeoutConn{Conn: c, l: l}, nil
}

type timeoutConn struct {
	net.Conn
	l *timeoutListener
}

func (c *timeoutConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.l.timedOut.Store(true)
	}
	return n, err
}

// TestFrontCloseIsNoTimeout: Close ends the wait for a head without a
// read timeout, which the API's tracking would count as a client's
// header timeout (findash_http_timeouts_total inflated at every stop).
func TestFrontCloseIsNoTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := &timeoutListener{Listener: ln}
	entered := make(chan struct{})
	srv := &http.Server{Handler: http.NotFoundHandler(), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			close(entered)
		}
	}}
	f := NewFront(tl, srv, FrontConfig{}, nil, nil)
	go func() { _ = srv.Serve(f) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Wait until the front tracks the connection: a byte of a GET /ws head.
	if _, err := io.WriteString(c, "G"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		f.mu.Lock()
		n := len(f.reading)
		f.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the front never read the connection")
		}
		runtime.Gosched()
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection was not closed")
	}
	if tl.timedOut.Load() {
		t.Fatal("a read timed out at Close (counted as a client's header timeout)")
	}
}
