package gateway

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestFraming drives the gateway's own frame reader and writer with a real
// client: control frames, fragmented and extended-length messages, the
// close handshake.
func TestFraming(t *testing.T) {
	e := newEnv(t, Config{MaxMessageBytes: 100_000})

	t.Run("ping answered with pong", func(t *testing.T) {
		c := e.dial("", nil)
		pong := make(chan string, 1)
		c.c.SetPongHandler(func(s string) error { pong <- s; return nil })
		if err := c.c.WriteControl(websocket.PingMessage, []byte("hello"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		// pongs are handled while reading: ask for something to read
		c.send(`{"op":"ping","id":1}`)
		if m := c.next(); m.Type != "pong" {
			t.Fatalf("got %s, want pong", m.raw)
		}
		select {
		case s := <-pong:
			if s != "hello" {
				t.Errorf("pong payload %q, want hello", s)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no pong frame")
		}
	})

	t.Run("fragmented message", func(t *testing.T) {
		c := e.dial("", nil)
		// gorilla fragments a message written in several Writes only past
		// its buffer; build the frames by hand on the socket instead.
		nc := c.c.NetConn()
		msg := []byte(`{"op":"ping","id":7}`)
		writeFrame(t, nc, 0x01, false, msg[:5])    // text, not final
		writeFrame(t, nc, 0x09, true, []byte("x")) // a ping in between
		writeFrame(t, nc, 0x00, false, msg[5:12])  // continuation
		writeFrame(t, nc, 0x00, true, msg[12:])    // final continuation
		if m := c.next(); m.Type != "pong" || m.ID == nil || *m.ID != 7 {
			t.Fatalf("got %s, want pong id 7", m.raw)
		}
	})

	t.Run("extended lengths", func(t *testing.T) {
		c := e.dial("", nil)
		for _, n := range []int{200, 70_000} { // 16-bit and 64-bit lengths
			pad := strings.Repeat("x", n)
			c.send(`{"op":"ping","id":3,"pad":"` + pad + `"}`)
			if m := c.next(); m.Type != "pong" {
				t.Fatalf("pad %d: got %s, want pong", n, m.raw)
			}
		}
	})

	t.Run("unmasked frame closes", func(t *testing.T) {
		c := e.dial("", nil)
		nc := c.c.NetConn()
		if _, err := nc.Write([]byte{0x81, 0x02, '{', '}'}); err != nil {
			t.Fatal(err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1024)
		for {
			if _, err := nc.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("connection still open after an unmasked frame")
				}
				return // closed
			}
		}
	})

	t.Run("client close echoed", func(t *testing.T) {
		c := e.dial("", nil)
		if err := c.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if code, _ := c.expectClose(); code != websocket.CloseNormalClosure {
			t.Errorf("close code %d, want %d", code, websocket.CloseNormalClosure)
		}
	})
}

// writeFrame writes one masked client frame.
func writeFrame(t *testing.T, nc net.Conn, op byte, fin bool, p []byte) {
	t.Helper()
	if _, err := nc.Write(clientFrame(op, fin, p)); err != nil {
		t.Fatal(err)
	}
}

// clientFrame encodes one masked client frame (payload ≤ 125 bytes).
func clientFrame(op byte, fin bool, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	key := [4]byte{1, 2, 3, 4}
	f := []byte{b0, 0x80 | byte(len(p))}
	f = append(f, key[:]...)
	for i, c := range p {
		f = append(f, c^key[i&3])
	}
	return f
}

// TestReadMessageReturnsAfterControl checks that a pong outside a message
// does not leave the reader blocked for the next frame: an idle client
// answering pings must not hold a second, deeper goroutine.
func TestReadMessageReturnsAfterControl(t *testing.T) {
	srv, cli := net.Pipe()
	defer srv.Close()
	defer cli.Close()
	pongs := 0
	tr := &wsTransport{nc: srv, onPong: pongFunc(func() { pongs++ })}
	go func() { _, _ = cli.Write(clientFrame(0x0a, true, nil)) }() // a pong
	type res struct {
		b   []byte
		err error
	}
	done := make(chan res, 1)
	go func() {
		b, err := tr.ReadMessage(1024)
		done <- res{b, err}
	}()
	select {
	case r := <-done:
		if r.b != nil || r.err != nil || pongs != 1 {
			t.Fatalf("ReadMessage = %q, %v with %d pongs; want nil, nil, 1", r.b, r.err, pongs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadMessage still waiting after a pong")
	}
}
