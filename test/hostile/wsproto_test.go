package hostile_test

// WebSocket protocol attacks (issue 13 item 11): frames that declare huge
// payloads, break RFC 6455, carry invalid UTF-8, or flood pings. Each
// runs against the real binary with a raw client that writes frames on the
// socket after the handshake.

import (
	"bufio"
	be "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rawWS is a WebSocket connection after the handshake, written and read as
// frames on its socket.
type rawWS struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, s *server) *rawWS {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial /ws: %v", err)
	}
	nc := c.NetConn()
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawWS{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawWS) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// wsFrame is one server frame.
type wsFrame struct {
	op      byte
	payload []byte
}

func (f wsFrame) closeCode() int {
	if f.op != 8 || len(f.payload) < 2 {
		return 0
	}
	return int(be.BigEndian.Uint16(f.payload))
}

func (f wsFrame) String() string {
	if f.op == 8 {
		return fmt.Sprintf("close %d %q", f.closeCode(), f.payload[min(2, len(f.payload)):])
	}
	return fmt.Sprintf("opcode %d %q", f.op, f.payload)
}

// read reads one server frame (never masked nor fragmented).
func (c *rawWS) read() (wsFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return wsFrame{}, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = uint64(be.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = be.BigEndian.Uint64(b[:])
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 || n > 1<<20 {
		return wsFrame{}, fmt.Errorf("bad server frame header % x (length %d)", h, n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return wsFrame{}, err
	}
	return wsFrame{op: h[0] & 0x0f, payload: p}, nil
}

// waitFor reads frames until one of opcode op whose payload contains s,
// skipping the others (the server's pings, other messages).
func (c *rawWS) waitFor(op byte, s string) {
	c.t.Helper()
	for {
		f, err := c.read()
		if err != nil {
			c.t.Fatalf("want a frame of opcode %d with %s, got %v", op, s, err)
		}
		if f.op == op && strings.Contains(string(f.payload), s) {
			return
		}
		if f.op == 8 {
			c.t.Fatalf("want a frame of opcode %d with %s, got %v", op, s, f)
		}
	}
}

// expectClose reads frames up to the close frame, checks its code and that
// the server then closes the connection (EOF, not a reset); it returns the
// frames before the close (but the server's pings).
func (c *rawWS) expectClose(code int) []wsFrame {
	c.t.Helper()
	var before []wsFrame
	for {
		f, err := c.read()
		if err != nil {
			c.t.Fatalf("want close %d, got %v after %v", code, err, before)
		}
		if f.op == 8 {
			if f.closeCode() != code {
				c.t.Fatalf("close code %d (%v), want %d", f.closeCode(), f, code)
			}
			break
		}
		if f.op != 9 { // the server's own pings may come at any time
			before = append(before, f)
		}
	}
	if f, err := c.read(); !errors.Is(err, io.EOF) {
		c.t.Fatalf("after the close frame: want EOF, got %v %v", f, err)
	}
	return before
}

// clientFrame encodes a masked client frame with the given first byte.
func clientFrame(b0 byte, p []byte) []byte {
	key := [4]byte{0x5a, 0x13, 0xc7, 0x01}
	f := lengthHeader(b0, uint64(len(p)))
	f = append(f, key[:]...)
	for i, c := range p {
		f = append(f, c^key[i&3])
	}
	return f
}

// lengthHeader encodes a masked frame's first bytes declaring n payload
// bytes (the mask key follows).
func lengthHeader(b0 byte, n uint64) []byte {
	switch {
	case n <= 125:
		return []byte{b0, 0x80 | byte(n)}
	case n <= 0xffff:
		return []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	}
	return be.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, n)
}

// TestWSHugeFrameRefusedFromHeader: a frame declaring 2^63-1 bytes was read
// and discarded, so the connection sat reading for ever. It must be refused
// from the header: the error message and close 1009 arrive although not a
// byte of the payload was sent, and the server hangs up. A length with the
// top bit set (2^63) is a protocol error: 1002.
func TestWSHugeFrameRefusedFromHeader(t *testing.T) {
	s := startServer(t, options{})
	c := dialRaw(t, s)
	c.write(append(lengthHeader(0x81, 1<<63-1), 1, 2, 3, 4)) // the header alone
	before := c.expectClose(1009)
	if len(before) != 1 || !strings.Contains(string(before[0].payload), `"code":"message_too_large"`) {
		t.Errorf("before the close: %v, want one error message_too_large", before)
	}

	c = dialRaw(t, s)
	c.write(append(lengthHeader(0x82, 1<<63), 1, 2, 3, 4))
	c.expectClose(1002)

	if v := s.Metric("findash_ws_protocol_errors_total", `kind="too_large"`); v != 1 {
		t.Errorf("findash_ws_protocol_errors_total{kind=too_large} = %v, want 1", v)
	}
	if v := s.Metric("findash_ws_closes_total", `code="1009"`); v != 1 {
		t.Errorf("findash_ws_closes_total{code=1009} = %v, want 1", v)
	}
}

// TestWSProtocolErrorsGetCloseFrames: protocol errors dropped TCP without a
// close frame (the client saw a reset); invalid UTF-8 was accepted; any
// close code was echoed. Now each gets its close frame, then EOF.
func TestWSProtocolErrorsGetCloseFrames(t *testing.T) {
	s := startServer(t, options{})
	closeWith := func(code int, reason string) []byte {
		return append(be.BigEndian.AppendUint16(nil, uint16(code)), reason...)
	}
	tests := []struct {
		name string
		send []byte
		code int
	}{
		{"unmasked frame", []byte{0x81, 0x02, '{', '}'}, 1002},
		{"reserved bit", clientFrame(0x81|0x40, []byte(`{}`)), 1002},
		{"reserved opcode", clientFrame(0x83, nil), 1002},
		{"fragmented ping", clientFrame(0x09, nil), 1002},
		{"continuation without a message", clientFrame(0x80, []byte(`{}`)), 1002},
		{"invalid UTF-8 in a text message", clientFrame(0x81, []byte("{\"op\":\"\xff\"}")), 1007},
		{"invalid UTF-8 across fragments", append(clientFrame(0x01, []byte("{\"x\":\"\xce")), clientFrame(0x80, []byte("\x41\"}"))...), 1007},
		{"invalid UTF-8 in the close reason", clientFrame(0x88, closeWith(1000, "\xff")), 1007},
		{"close code 1005 may not be sent", clientFrame(0x88, closeWith(1005, "")), 1002},
		{"close code 2000 is not allocated", clientFrame(0x88, closeWith(2000, "")), 1002},
		{"close code 4001 is echoed", clientFrame(0x88, closeWith(4001, "bye")), 4001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, s)
			c.write(tt.send)
			c.expectClose(tt.code)
		})
	}
	if v := s.Metric("findash_ws_protocol_errors_total", `kind="invalid_utf8"`); v != 3 {
		t.Errorf("findash_ws_protocol_errors_total{kind=invalid_utf8} = %v, want 3", v)
	}
	if v := s.Metric("findash_ws_closes_total", `code="1002"`); v != 7 {
		t.Errorf("findash_ws_closes_total{code=1002} = %v, want 7", v)
	}
}

// TestWSPingFlood: pings were answered without limit, one pong write per
// ping. A client flooding pings now gets at most the burst of pongs, then
// close 1008; a client subscribed meanwhile keeps getting its ticks and
// pongs, and is not closed.
func TestWSPingFlood(t *testing.T) {
	s := startServer(t, options{user: "flood@example.com"})

	other := dialRaw(t, s)
	other.write(clientFrame(0x81, []byte(`{"op":"subscribe","id":1,"channels":["ticks:FLD-USD"]}`)))
	other.waitFor(1, `"type":"ack"`)

	flood := dialRaw(t, s)
	var wg sync.WaitGroup
	wg.Go(func() { // 2,000 pings in one write, without reading
		_, _ = flood.nc.Write([]byte(strings.Repeat(string(clientFrame(0x89, []byte("flood"))), 2000)))
	})
	pongs := 0
	for {
		f, err := flood.read()
		if err != nil {
			t.Fatalf("flooder: want pongs then close 1008, got %v after %d pongs", err, pongs)
		}
		if f.op == 10 {
			pongs++
			continue
		}
		if f.op == 9 {
			continue // the server's own ping
		}
		if f.closeCode() != 1008 {
			t.Fatalf("flooder: got %v after %d pongs, want close 1008", f, pongs)
		}
		break
	}
	wg.Wait()
	if pongs < 20 || pongs > 25 { // the burst, and what the rate refilled meanwhile
		t.Errorf("flooder got %d pongs, want the burst of 20 (and a few refilled)", pongs)
	}
	if v := s.Metric("findash_ws_protocol_errors_total", `kind="ping_rate"`); v != 1 {
		t.Errorf("findash_ws_protocol_errors_total{kind=ping_rate} = %v, want 1", v)
	}

	// The other client is untouched: its pings are answered, ticks arrive.
	other.write(clientFrame(0x89, []byte("mine")))
	other.waitFor(10, "mine")
	now := time.Now().UnixMilli()
	if code, body := s.PostTicks(fmt.Sprintf(`{"symbol":"FLD-USD","price":10.5,"size":2,"ts":%d}`+"\n", now)); code != 202 {
		t.Fatalf("POST ticks: %d %s", code, body)
	}
	other.waitFor(1, `"type":"tick"`)
	for deadline := time.Now().Add(10 * time.Second); ; {
		v := s.Metric("findash_ws_connections")
		if v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("findash_ws_connections = %v, want 1 (the subscriber)", v)
		}
		time.Sleep(50 * time.Millisecond) // polling another process
	}
}
