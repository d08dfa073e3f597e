package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestConformance is a WebSocket conformance table in the spirit of the
// Autobahn test suite (RFC 6455 §5–§7): each row opens a real connection to
// a hub on loopback, writes raw client frames on the socket and checks the
// frames the server answers with, in order. A row that ends in a close code
// also checks that the server closes the TCP connection after its close
// frame; a row marked open checks that the connection still answers.
func TestConformance(t *testing.T) {
	e := newEnv(t, Config{PingRate: 1, PingBurst: 10})
	const limit = 16 << 10 // the default MaxMessageBytes

	ping := func(id int) []byte { return text([]byte(fmt.Sprintf(`{"op":"ping","id":%d}`, id))) }
	pongMsg := func(id int) exp { return textHas(fmt.Sprintf(`{"type":"pong","id":%d}`, id)) }
	utf8Msg := []byte(`{"op":"ping","id":5,"x":"κόσμε 𝄞"}`)
	kappa := strings.Index(string(utf8Msg), "κ")
	clef := strings.Index(string(utf8Msg), "𝄞")
	padded := func(n int) []byte { // a ping message of exactly n bytes
		s := `{"op":"ping","id":6,"pad":"`
		return []byte(s + strings.Repeat("x", n-len(s)-2) + `"}`)
	}

	tests := []struct {
		section, name string
		send          []byte
		want          []exp
		open          bool // still answers afterwards
	}{
		// §5.2 framing: lengths and message types.
		{"framing", "text message", ping(1), []exp{pongMsg(1)}, true},
		{"framing", "binary message", frame(finBit|opBinary, []byte(`{"op":"ping","id":2}`)), []exp{pongMsg(2)}, true},
		{"framing", "empty text message", text(nil), []exp{textHas(`"code":"invalid_json"`)}, true},
		{"framing", "125-byte message (7-bit length)", frame(finBit|opText, padded(125)), []exp{pongMsg(6)}, true},
		{"framing", "126-byte message (16-bit length)", frame(finBit|opText, padded(126)), []exp{pongMsg(6)}, true},
		{"framing", "16 KiB message (the limit)", frame(finBit|opText, padded(limit)), []exp{pongMsg(6)}, true},
		{"framing", "two messages in one write", cat(ping(3), ping(4)), []exp{pongMsg(3), pongMsg(4)}, true},
		{"framing", "reserved bit 1 on text", frame(finBit|0x40|opText, []byte(`{}`)), []exp{closes(1002)}, false},
		{"framing", "reserved bit 2 on text", frame(finBit|0x20|opText, []byte(`{}`)), []exp{closes(1002)}, false},
		{"framing", "reserved bit 3 on text", frame(finBit|0x10|opText, []byte(`{}`)), []exp{closes(1002)}, false},
		{"framing", "all reserved bits on binary", frame(finBit|0x70|opBinary, []byte(`{}`)), []exp{closes(1002)}, false},
		{"framing", "reserved bit on ping", frame(finBit|0x40|opPing, nil), []exp{closes(1002)}, false},
		{"framing", "reserved bit on close", frame(finBit|0x40|opClose, rawClose(1000, "")), []exp{closes(1002)}, false},
		{"framing", "reserved bit on a continuation", cat(frame(opText, []byte(`{"op":`)), frame(finBit|0x20|opContinuation, []byte(`"ping"}`))), []exp{closes(1002)}, false},
		{"framing", "valid message then reserved bit", cat(ping(7), frame(finBit|0x40|opText, nil)), []exp{pongMsg(7), closes(1002)}, false},
		{"framing", "64-bit length with the top bit set, nothing read", header(finBit|opText, 1<<63), []exp{closes(1002)}, false},

		// §5.2 opcodes.
		{"opcodes", "reserved data opcode 3", frame(finBit|3, nil), []exp{closes(1002)}, false},
		{"opcodes", "reserved data opcode 4 with payload", frame(finBit|4, []byte("payload")), []exp{closes(1002)}, false},
		{"opcodes", "reserved data opcode 5", frame(finBit|5, nil), []exp{closes(1002)}, false},
		{"opcodes", "reserved data opcode 6", frame(finBit|6, nil), []exp{closes(1002)}, false},
		{"opcodes", "reserved data opcode 7", frame(finBit|7, nil), []exp{closes(1002)}, false},
		{"opcodes", "reserved control opcode 11", frame(finBit|11, nil), []exp{closes(1002)}, false},
		{"opcodes", "reserved control opcode 12 with payload", frame(finBit|12, []byte("payload")), []exp{closes(1002)}, false},
		{"opcodes", "reserved control opcode 13", frame(finBit|13, nil), []exp{closes(1002)}, false},
		{"opcodes", "reserved control opcode 14", frame(finBit|14, nil), []exp{closes(1002)}, false},
		{"opcodes", "reserved control opcode 15", frame(finBit|15, nil), []exp{closes(1002)}, false},
		{"opcodes", "reserved opcode after a valid message", cat(ping(8), frame(finBit|5, nil)), []exp{pongMsg(8), closes(1002)}, false},
		{"opcodes", "reserved opcode inside a fragmented message", cat(frame(opText, []byte(`{"op":`)), frame(finBit|11, nil)), []exp{closes(1002)}, false},

		// §5.3 masking.
		{"masking", "unmasked text", unmasked(finBit|opText, []byte(`{"op":"ping"}`)), []exp{closes(1002)}, false},
		{"masking", "unmasked ping", unmasked(finBit|opPing, []byte("x")), []exp{closes(1002)}, false},
		{"masking", "unmasked close", unmasked(finBit|opClose, rawClose(1000, "")), []exp{closes(1002)}, false},
		{"masking", "unmasked continuation", cat(frame(opText, []byte(`{"op":`)), unmasked(finBit|opContinuation, []byte(`"ping"}`))), []exp{closes(1002)}, false},
		{"masking", "all-zero mask key", frameKey(finBit|opText, []byte(`{"op":"ping","id":9}`), [4]byte{}), []exp{pongMsg(9)}, true},

		// §5.5 control frames.
		{"control", "empty ping", frame(finBit|opPing, nil), []exp{pong("")}, true},
		{"control", "ping with a payload", frame(finBit|opPing, []byte("hello")), []exp{pong("hello")}, true},
		{"control", "ping with 125 bytes", frame(finBit|opPing, []byte(strings.Repeat("p", 125))), []exp{pong(strings.Repeat("p", 125))}, true},
		{"control", "ping with binary payload", frame(finBit|opPing, []byte{0, 0xff, 0xfe, 0x80}), []exp{pong("\x00\xff\xfe\x80")}, true},
		{"control", "ping with 126 bytes, nothing read", header(finBit|opPing, 126), []exp{closes(1002)}, false},
		{"control", "fragmented ping", frame(opPing, []byte("x")), []exp{closes(1002)}, false},
		{"control", "unsolicited pong", frame(finBit|opPong, []byte("x")), nil, true},
		{"control", "pong with 126 bytes", frame(finBit|opPong, []byte(strings.Repeat("p", 126))), []exp{closes(1002)}, false},
		{"control", "fragmented pong", frame(opPong, nil), []exp{closes(1002)}, false},
		{"control", "ten pings answered in order", pings(10), pongsN(10), true},
		{"control", "ping flood over the burst", pings(13), append(pongsN(10), closes(1008)), false},

		// §5.4 fragmentation.
		{"fragmentation", "text in two fragments", cat(frame(opText, []byte(`{"op":"ping",`)), frame(finBit|opContinuation, []byte(`"id":10}`))), []exp{pongMsg(10)}, true},
		{"fragmentation", "binary in two fragments", cat(frame(opBinary, []byte(`{"op":"ping",`)), frame(finBit|opContinuation, []byte(`"id":11}`))), []exp{pongMsg(11)}, true},
		{"fragmentation", "one byte per fragment", fragments([]byte(`{"op":"ping","id":12}`), 1), []exp{pongMsg(12)}, true},
		{"fragmentation", "empty fragments", cat(frame(opText, nil), frame(opContinuation, []byte(`{"op":"ping","id":13}`)), frame(opContinuation, nil), frame(finBit|opContinuation, nil)), []exp{pongMsg(13)}, true},
		{"fragmentation", "ping between fragments", cat(frame(opText, []byte(`{"op":"ping",`)), frame(finBit|opPing, []byte("mid")), frame(finBit|opContinuation, []byte(`"id":14}`))), []exp{pong("mid"), pongMsg(14)}, true},
		{"fragmentation", "pong between fragments", cat(frame(opText, []byte(`{"op":"ping",`)), frame(finBit|opPong, nil), frame(finBit|opContinuation, []byte(`"id":15}`))), []exp{pongMsg(15)}, true},
		{"fragmentation", "close between fragments", cat(frame(opText, []byte(`{"op":"ping",`)), frame(finBit|opClose, rawClose(1000, "")), frame(finBit|opContinuation, []byte(`"id":16}`))), []exp{closes(1000)}, false},
		{"fragmentation", "continuation without a message", frame(finBit|opContinuation, []byte(`{}`)), []exp{closes(1002)}, false},
		{"fragmentation", "unfinished continuation without a message", frame(opContinuation, []byte(`{}`)), []exp{closes(1002)}, false},
		{"fragmentation", "continuation after a whole message", cat(ping(17), frame(finBit|opContinuation, []byte(`{}`))), []exp{pongMsg(17), closes(1002)}, false},
		{"fragmentation", "text inside a fragmented text", cat(frame(opText, []byte(`{"op":`)), frame(finBit|opText, []byte(`{}`))), []exp{closes(1002)}, false},
		{"fragmentation", "binary inside a fragmented text", cat(frame(opText, []byte(`{"op":`)), frame(opBinary, []byte(`{}`))), []exp{closes(1002)}, false},
		{"fragmentation", "message of 16 KiB in 1 KiB fragments", fragments(padded(limit), 1024), []exp{pongMsg(6)}, true},

		// §8.1 UTF-8 in text messages (and §5.6).
		{"utf8", "valid multi-byte text", text(utf8Msg), []exp{pongMsg(5)}, true},
		{"utf8", "a 2-byte rune split across fragments", cat(frame(opText, utf8Msg[:kappa+1]), frame(finBit|opContinuation, utf8Msg[kappa+1:])), []exp{pongMsg(5)}, true},
		{"utf8", "a 4-byte rune split over three fragments", cat(frame(opText, utf8Msg[:clef+1]), frame(opContinuation, utf8Msg[clef+1:clef+3]), frame(finBit|opContinuation, utf8Msg[clef+3:])), []exp{pongMsg(5)}, true},
		{"utf8", "the whole message one byte per fragment", fragments(utf8Msg, 1), []exp{pongMsg(5)}, true},
		{"utf8", "invalid byte 0xff", text([]byte("{\"x\":\"\xff\"}")), []exp{closes(1007)}, false},
		{"utf8", "overlong encoding of /", text([]byte("\xc0\xaf")), []exp{closes(1007)}, false},
		{"utf8", "overlong 3-byte encoding", text([]byte("\xe0\x80\xaf")), []exp{closes(1007)}, false},
		{"utf8", "UTF-16 surrogate U+D800", text([]byte("\xed\xa0\x80")), []exp{closes(1007)}, false},
		{"utf8", "code point above U+10FFFF", text([]byte("\xf4\x90\x80\x80")), []exp{closes(1007)}, false},
		{"utf8", "lone continuation byte", text([]byte("a\x80b")), []exp{closes(1007)}, false},
		{"utf8", "rune cut at the end of the message", text([]byte("ab\xce")), []exp{closes(1007)}, false},
		{"utf8", "rune cut at the end of the last fragment", cat(frame(opText, []byte("ab")), frame(finBit|opContinuation, []byte("\xe2\x82"))), []exp{closes(1007)}, false},
		{"utf8", "invalid in the second fragment", cat(frame(opText, []byte("ab")), frame(finBit|opContinuation, []byte("\xed\xa0\x80"))), []exp{closes(1007)}, false},
		{"utf8", "fails fast on the first fragment", frame(opText, []byte("{\"x\":\"\xff")), []exp{closes(1007)}, false},
		{"utf8", "fails fast on an impossible rune start", frame(opText, []byte("ab\xf5")), []exp{closes(1007)}, false},
		{"utf8", "fails fast on a bad second byte", frame(opText, []byte("ab\xe0\x80")), []exp{closes(1007)}, false},
		{"utf8", "binary is not checked", frame(finBit|opBinary, []byte("\xff")), []exp{textHas(`"code":"invalid_json"`)}, true},

		// §5.5.1 and §7 the close handshake.
		{"close", "empty close", frame(finBit|opClose, nil), []exp{closes(closeNoStatus)}, false},
		{"close", "close 1000 with a reason", frame(finBit|opClose, rawClose(1000, "bye")), []exp{closes(1000)}, false},
		{"close", "close with a 123-byte reason", frame(finBit|opClose, rawClose(1000, strings.Repeat("r", 123))), []exp{closes(1000)}, false},
		{"close", "close with a 1-byte payload", frame(finBit|opClose, []byte{3}), []exp{closes(1002)}, false},
		{"close", "close with a 124-byte reason (126 bytes)", frame(finBit|opClose, rawClose(1000, strings.Repeat("r", 124))), []exp{closes(1002)}, false},
		{"close", "close reason with invalid UTF-8", frame(finBit|opClose, rawClose(1000, "\xce\xba\xff")), []exp{closes(1007)}, false},
		{"close", "close reason with valid UTF-8", frame(finBit|opClose, rawClose(1000, "κόσμε")), []exp{closes(1000)}, false},
		{"close", "fragmented close", frame(opClose, rawClose(1000, "")), []exp{closes(1002)}, false},
		{"close", "nothing read after the close", cat(frame(finBit|opClose, rawClose(1000, "")), ping(18)), []exp{closes(1000)}, false},
		{"close", "ping after the close not answered", cat(frame(finBit|opClose, rawClose(1000, "")), frame(finBit|opPing, nil)), []exp{closes(1000)}, false},
		{"close", "close after a message is answered first", cat(ping(19), frame(finBit|opClose, rawClose(1001, ""))), []exp{pongMsg(19), closes(1001)}, false},

		// §5.2 and §10.4 limits: refused from the header, before the payload is read.
		{"limits", "2^63-1 bytes declared, nothing read", header(finBit|opText, 1<<63-1), []exp{textHas(`"code":"message_too_large"`), closes(1009)}, false},
		{"limits", "limit+1 bytes declared, nothing read", header(finBit|opText, limit+1), []exp{textHas(`"code":"message_too_large"`), closes(1009)}, false},
		{"limits", "binary 2^32 bytes declared", header(finBit|opBinary, 1<<32), []exp{textHas(`"code":"message_too_large"`), closes(1009)}, false},
		{"limits", "fragments adding up past the limit", cat(frame(opText, padded(limit)[:limit-10]), header(finBit|opContinuation, 11)), []exp{textHas(`"code":"message_too_large"`), closes(1009)}, false},
		{"limits", "a huge unfinished fragment", header(opText, 1<<40), []exp{textHas(`"code":"message_too_large"`), closes(1009)}, false},
		// An empty fragment counts as one byte: otherwise a message of
		// empty continuations never ends, and each costs the server two
		// reads without ever meeting the size limit or the message rate.
		{"limits", "empty fragments past the limit", cat(frame(opText, []byte(`{"op":"ping",`)), bytes.Repeat(frame(opContinuation, nil), limit), frame(finBit|opContinuation, []byte(`"id":20}`))), []exp{textHas(`"code":"message_too_large"`), closes(1009)}, false},
	}
	// §7.4 close codes: the valid ones are echoed, any other is a protocol error.
	for _, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		tests = append(tests, struct {
			section, name string
			send          []byte
			want          []exp
			open          bool
		}{"close codes", fmt.Sprintf("valid %d echoed", code), frame(finBit|opClose, rawClose(code, "")), []exp{closes(code)}, false})
	}
	for _, code := range []int{0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		tests = append(tests, struct {
			section, name string
			send          []byte
			want          []exp
			open          bool
		}{"close codes", fmt.Sprintf("invalid %d refused", code), frame(finBit|opClose, rawClose(code, "")), []exp{closes(1002)}, false})
	}

	for _, tt := range tests {
		t.Run(tt.section+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			c := e.rawDial()
			if _, err := c.nc.Write(tt.send); err != nil {
				t.Fatalf("write: %v", err)
			}
			for i, w := range tt.want {
				got, err := c.readFrame()
				if err != nil {
					t.Fatalf("frame %d: want %v, got %v", i, w, err)
				}
				if !w.matches(got) {
					t.Fatalf("frame %d: want %v, got %v", i, w, got)
				}
			}
			if tt.open {
				if _, err := c.nc.Write(text([]byte(`{"op":"ping","id":99}`))); err != nil {
					t.Fatalf("write: %v", err)
				}
				got, err := c.readFrame()
				if w := textHas(`{"type":"pong","id":99}`); err != nil || !w.matches(got) {
					t.Fatalf("connection no longer answers: want %v, got %v, %v", w, got, err)
				}
				return
			}
			// After its close frame the server closes the TCP connection.
			if got, err := c.readFrame(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the close frame: want the connection closed, got %v, %v", got, err)
			}
		})
	}
}

// exp is a frame the server is expected to send.
type exp struct {
	op   byte
	text string // opText: a substring of the payload; opPong: the payload
	code int    // opClose: the code (closeNoStatus: a close frame without one)
}

func (w exp) String() string {
	switch w.op {
	case opText:
		return fmt.Sprintf("text containing %s", w.text)
	case opPong:
		return fmt.Sprintf("pong %q", w.text)
	case opClose:
		return fmt.Sprintf("close %d", w.code)
	}
	return fmt.Sprintf("opcode %d", w.op)
}

func (w exp) matches(f srvFrame) bool {
	if w.op != f.op {
		return false
	}
	switch w.op {
	case opText:
		return strings.Contains(string(f.payload), w.text)
	case opPong:
		return string(f.payload) == w.text
	case opClose:
		return f.code() == w.code
	}
	return false
}

func textHas(s string) exp { return exp{op: opText, text: s} }
func pong(p string) exp    { return exp{op: opPong, text: p} }
func closes(code int) exp  { return exp{op: opClose, code: code} }

// srvFrame is one frame read from the server.
type srvFrame struct {
	op      byte
	payload []byte
}

func (f srvFrame) code() int {
	if len(f.payload) < 2 {
		return closeNoStatus
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

func (f srvFrame) String() string {
	if f.op == opClose {
		return fmt.Sprintf("close %d %q", f.code(), f.payload[min(2, len(f.payload)):])
	}
	return fmt.Sprintf("opcode %d %q", f.op, f.payload)
}

// rawConn is a WebSocket connection after the handshake, read and written
// as bytes on its socket.
type rawConn struct {
	nc      net.Conn
	br      *bufio.Reader
	pending []srvFrame // messages of a text frame not yet returned
}

func (e *env) rawDial() *rawConn {
	e.t.Helper()
	c := e.dial("", nil)
	nc := c.c.NetConn()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{nc: nc, br: bufio.NewReader(nc)}
}

// readFrame reads one server frame; the server never masks nor fragments.
// A text frame carrying several messages (joined by '\n') is returned as
// one frame per message.
func (c *rawConn) readFrame() (srvFrame, error) {
	if len(c.pending) == 0 {
		f, err := c.readWire()
		// The server's own keepalive pings may come between any two frames
		// (a loaded machine lets the ping timer fire mid-case); no case
		// expects a ping from the server, so they are skipped.
		for err == nil && f.op == opPing {
			f, err = c.readWire()
		}
		if err != nil || f.op != opText {
			return f, err
		}
		for m := range strings.SplitSeq(string(f.payload), "\n") {
			c.pending = append(c.pending, srvFrame{op: opText, payload: []byte(m)})
		}
	}
	f := c.pending[0]
	c.pending = c.pending[1:]
	return f, nil
}

// readWire reads one frame from the socket.
func (c *rawConn) readWire() (srvFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return srvFrame{}, err
	}
	if h[0] != finBit|h[0]&0x0f || h[1]&maskBit != 0 {
		return srvFrame{}, fmt.Errorf("bad server frame header % x", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return srvFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return srvFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		return srvFrame{}, fmt.Errorf("server frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return srvFrame{}, err
	}
	return srvFrame{op: h[0] & 0x0f, payload: p}, nil
}

// frame encodes one masked client frame; b0 is its first byte (FIN, RSV
// bits, opcode).
func frame(b0 byte, p []byte) []byte { return frameKey(b0, p, [4]byte{0x37, 0xfa, 0x21, 0x3d}) }

func frameKey(b0 byte, p []byte, key [4]byte) []byte {
	f := lengthHeader(b0, maskBit, uint64(len(p)))
	f = append(f, key[:]...)
	for i, c := range p {
		f = append(f, c^key[i&3])
	}
	return f
}

// unmasked encodes a client frame without a mask, which RFC 6455 forbids.
func unmasked(b0 byte, p []byte) []byte {
	return append(lengthHeader(b0, 0, uint64(len(p))), p...)
}

// header encodes a masked frame header declaring n payload bytes (64-bit
// length when n > 0xffff), without the payload.
func header(b0 byte, n uint64) []byte {
	return append(lengthHeader(b0, maskBit, n), 1, 2, 3, 4)
}

func lengthHeader(b0, mask byte, n uint64) []byte {
	switch {
	case n <= 125:
		return []byte{b0, mask | byte(n)}
	case n <= 0xffff:
		return []byte{b0, mask | 126, byte(n >> 8), byte(n)}
	}
	return binary.BigEndian.AppendUint64([]byte{b0, mask | 127}, n)
}

func text(p []byte) []byte { return frame(finBit|opText, p) }

func rawClose(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// fragments splits p into a text message of fragments of n bytes.
func fragments(p []byte, n int) []byte {
	var out []byte
	for i := 0; i < len(p); i += n {
		op := byte(opContinuation)
		if i == 0 {
			op = opText
		}
		if i+n >= len(p) {
			op |= finBit
		}
		out = append(out, frame(op, p[i:min(i+n, len(p))])...)
	}
	return out
}

func pings(n int) []byte {
	var out []byte
	for i := range n {
		out = append(out, frame(finBit|opPing, []byte{byte('a' + i)})...)
	}
	return out
}

func pongsN(n int) []exp {
	var out []exp
	for i := range n {
		out = append(out, pong(string(rune('a'+i))))
	}
	return out
}

func cat(frames ...[]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}
