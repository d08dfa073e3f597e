package gateway

// Reading client frames (RFC 6455 §5): every check that fails a connection
// and the close code it gets (§7.4). Each check is made on the frame header,
// before its payload is read, unless it is about the payload (UTF-8, the
// close frame's code). The conformance table is conformance_test.go.

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// Close codes (RFC 6455 §7.4.1).
const (
	closeGoingAway   = 1001 // draining
	closeProtocol    = 1002 // a frame broke RFC 6455
	closeNoStatus    = 1005 // never on the wire: a close frame without a code
	closeInvalidData = 1007 // invalid UTF-8 in a text message or a close reason
	closePolicy      = 1008 // limits abused
	closeTooBig      = 1009 // a message over the limit, refused from its header
)

// validCloseCode reports whether a client may send code in a close frame
// (§7.4.1 and §7.4.2: the defined codes that may be sent, and the ranges
// for libraries and applications). The server echoes these; any other is a
// protocol error.
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011:
		return true
	}
	return code >= 3000 && code <= 4999
}

// WebSocket opcodes and header bits (RFC 6455 §5.2).
const (
	opContinuation = 0
	opText         = 1
	opBinary       = 2
	opClose        = 8
	opPing         = 9
	opPong         = 10
	finBit         = 0x80
	rsvBits        = 0x70
	maskBit        = 0x80
	maxControl     = 125 // payload bytes of a control frame
)

// A failure is a client frame that fails the connection (§7.1.7): the
// reader reads no further frame, the writer sends what is queued and a
// close frame with code and reason, and the socket is closed. kind names
// the check in findash_ws_protocol_errors_total.
type failure struct {
	code   int
	kind   string
	reason string // at most 123 bytes: it goes in the close frame
}

func (f *failure) Error() string {
	return fmt.Sprintf("websocket: %s (close %d)", f.reason, f.code)
}

// The kinds of failure (the metric's label values).
const (
	kindReservedBits      = "reserved_bits"
	kindUnmasked          = "unmasked"
	kindBadOpcode         = "bad_opcode"
	kindBadLength         = "bad_length"
	kindControlFragmented = "control_fragmented"
	kindControlTooLong    = "control_too_long"
	kindBadContinuation   = "bad_continuation"
	kindUnfinished        = "unfinished_message"
	kindBadClose          = "bad_close"
	kindInvalidUTF8       = "invalid_utf8"
	kindTooLarge          = "too_large"
	kindPingRate          = "ping_rate"
)

// failureKinds lists every kind, so that each is exported from the start.
var failureKinds = []string{kindReservedBits, kindUnmasked, kindBadOpcode, kindBadLength,
	kindControlFragmented, kindControlTooLong, kindBadContinuation, kindUnfinished,
	kindBadClose, kindInvalidUTF8, kindTooLarge, kindPingRate}

// peerClose is returned by ReadMessage for the client's (valid) close
// frame: the server answers with the same code once what is queued is
// written.
type peerClose struct{ code int }

func (p *peerClose) Error() string { return fmt.Sprintf("websocket closed by the client (%d)", p.code) }

// fail counts a failure of kind and returns it.
func (t *wsTransport) fail(code int, kind, format string, args ...any) *failure {
	if t.u != nil && t.u.met != nil {
		t.u.met.failures.WithLabelValues(kind).Inc()
	}
	return &failure{code: code, kind: kind, reason: fmt.Sprintf(format, args...)}
}

// ReadMessage reads frames until a whole data message is in and returns it
// (never nil). Pings are answered and pongs reported. A control frame
// outside a message (a pong, typically) returns nil, nil at once, so that an
// idle connection goes back to WaitReadable instead of blocking here,
// deeper and on a second goroutine. Errors: a *failure (the connection must
// be failed with its code), a *peerClose, or the socket's error.
func (t *wsTransport) ReadMessage(limit int) ([]byte, error) {
	var msg []byte
	started, text := false, false
	valid := 0 // text: msg[:valid] is valid UTF-8; the rest is an unfinished rune
	// size is what counts against limit: the payload, and one byte per
	// empty fragment. An empty fragment carries nothing but costs two
	// reads; uncounted, a message of them never ended, so never met the
	// limit nor the message rate, and the reads had no bound.
	size := 0
	for {
		op, fin, n, err := t.readHeader()
		if err != nil {
			return nil, err
		}
		if op >= opClose {
			if err := t.readControl(op, fin, n); err != nil {
				return nil, err
			}
			if !started {
				return nil, nil // nothing more to wait for here: back to the shallow wait
			}
			continue
		}
		switch op {
		case opText, opBinary:
			if started {
				return nil, t.fail(closeProtocol, kindUnfinished, "new message before the last one's final fragment")
			}
			started, text = true, op == opText
		case opContinuation:
			if !started {
				return nil, t.fail(closeProtocol, kindBadContinuation, "continuation frame without a message to continue")
			}
		default:
			return nil, t.fail(closeProtocol, kindBadOpcode, "reserved opcode %d", op)
		}
		// The length is checked before a byte of the payload is read: a
		// frame declaring 2^63-1 bytes is refused from its header.
		if max(n, 1) > uint64(limit-size) {
			return nil, t.fail(closeTooBig, kindTooLarge, "messages are limited to %d bytes (an empty fragment counts as one)", limit)
		}
		size += max(int(n), 1)
		start := len(msg)
		msg = append(msg, make([]byte, n)...)
		if err := t.readPayload(msg[start:]); err != nil {
			return nil, err
		}
		if text {
			ok := false
			if valid, ok = checkUTF8(msg, valid, fin); !ok {
				return nil, t.fail(closeInvalidData, kindInvalidUTF8, "invalid UTF-8 in a text message")
			}
		}
		if fin {
			if msg == nil {
				msg = []byte{}
			}
			return msg, nil
		}
	}
}

// checkUTF8 checks msg[from:], the fragments received since msg[:from] was
// found valid. Before the final fragment a rune may be cut at the end: it is
// accepted when its bytes so far can start a valid rune, so that a text
// message fails on the first fragment that makes it invalid. It returns how
// much of msg is now known valid.
func checkUTF8(msg []byte, from int, final bool) (int, bool) {
	b := msg[from:]
	if utf8.Valid(b) {
		return len(msg), true
	}
	if final {
		return from, false
	}
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			// FullRune is false only for a valid prefix of a longer rune.
			if !utf8.FullRune(b[i:]) && utf8.Valid(b[:i]) {
				return from + i, true
			}
			break
		}
	}
	return from, false
}

// readControl reads and acts on a control frame whose header was read.
func (t *wsTransport) readControl(op byte, fin bool, n uint64) error {
	switch {
	case op > opPong:
		return t.fail(closeProtocol, kindBadOpcode, "reserved opcode %d", op)
	case !fin:
		return t.fail(closeProtocol, kindControlFragmented, "fragmented control frame")
	case n > maxControl:
		return t.fail(closeProtocol, kindControlTooLong, "control frame of more than 125 bytes")
	}
	if op != opClose && !t.allowPing() {
		return t.fail(closePolicy, kindPingRate, "more than %g pings a second", t.u.pingRate)
	}
	p := make([]byte, n)
	if err := t.readPayload(p); err != nil {
		return err
	}
	switch op {
	case opPing:
		_ = t.writeControl(opPong, p, t.clock().Add(5*time.Second))
	case opPong:
		t.onPong.pong()
	case opClose:
		return t.readClose(p)
	}
	return nil
}

// readClose checks the client's close frame (§5.5.1, §7.4): no code, or a
// valid code and a UTF-8 reason.
func (t *wsTransport) readClose(p []byte) error {
	switch {
	case len(p) == 0:
		return &peerClose{code: closeNoStatus}
	case len(p) == 1:
		return t.fail(closeProtocol, kindBadClose, "close frame with a 1-byte payload")
	}
	code := int(binary.BigEndian.Uint16(p))
	if !validCloseCode(code) {
		return t.fail(closeProtocol, kindBadClose, "close code %d may not be sent", code)
	}
	if !utf8.Valid(p[2:]) {
		return t.fail(closeInvalidData, kindInvalidUTF8, "invalid UTF-8 in the close reason")
	}
	return &peerClose{code: code}
}

// allowPing reports whether one more ping (or pong) from the client fits
// its rate. It is a GCRA, the token bucket in one number: pingTAT is when
// the bucket would be full again, moved on by one interval per frame, and a
// frame is refused when that lies more than a burst's worth ahead.
func (t *wsTransport) allowPing() bool {
	if t.u == nil || t.u.pingEvery <= 0 {
		return true
	}
	now := t.clock().UnixNano()
	tat := max(t.pingTAT, now) + t.u.pingEvery
	if tat-now > t.u.pingEvery*t.u.pingBurst {
		return false
	}
	t.pingTAT = tat
	return true
}

// readHeader reads one frame header; the mask key is left in t.hdr[8:12].
func (t *wsTransport) readHeader() (op byte, fin bool, n uint64, err error) {
	h := t.hdr[:2]
	if _, err = io.ReadFull(t.nc, h); err != nil {
		return 0, false, 0, err
	}
	b0, b1 := h[0], h[1]
	if b0&rsvBits != 0 {
		return 0, false, 0, t.fail(closeProtocol, kindReservedBits, "reserved bits set: no extension was negotiated")
	}
	if b1&maskBit == 0 {
		return 0, false, 0, t.fail(closeProtocol, kindUnmasked, "client frames must be masked")
	}
	op, fin, n = b0&0x0f, b0&finBit != 0, uint64(b1&0x7f)
	ext := 0
	switch n {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	if _, err = io.ReadFull(t.nc, t.hdr[8-ext:12]); err != nil {
		return 0, false, 0, err
	}
	switch ext {
	case 2:
		n = uint64(binary.BigEndian.Uint16(t.hdr[6:8]))
	case 8:
		n = binary.BigEndian.Uint64(t.hdr[0:8])
		if n>>63 != 0 {
			return 0, false, 0, t.fail(closeProtocol, kindBadLength, "64-bit payload length with the most significant bit set")
		}
	}
	return op, fin, n, nil
}

// readPayload reads len(p) payload bytes and unmasks them with the key of
// the last header.
func (t *wsTransport) readPayload(p []byte) error {
	if _, err := io.ReadFull(t.nc, p); err != nil {
		return err
	}
	key := t.hdr[8:12]
	for i := range p {
		p[i] ^= key[i&3]
	}
	return nil
}

// Lingering after a failure: what the client still sends is read and
// dropped, up to lingerBytes or for lingerTime, so that the socket is not
// closed with unread data, which makes the kernel send a reset that can
// destroy the close frame queued just before.
const (
	lingerBytes = 64 << 10
	lingerTime  = 2 * time.Second
)

// Linger reads and drops what the client sends until it closes its side,
// lingerBytes were dropped, lingerTime has passed or the socket is closed.
func (t *wsTransport) Linger() {
	_ = t.nc.SetReadDeadline(t.clock().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, t.nc, lingerBytes)
}

// closePayload is the payload of a close frame: none for closeNoStatus.
func closePayload(code int, reason string) []byte {
	if code == closeNoStatus {
		return nil
	}
	if len(reason) > maxControl-2 {
		reason = reason[:maxControl-2]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	return append(binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code)), reason...)
}

// appendFrameHeader appends the header of an unmasked final frame (server
// to client) of n payload bytes.
func appendFrameHeader(b []byte, op byte, n int) []byte {
	switch {
	case n <= 125:
		return append(b, finBit|op, byte(n))
	case n <= 0xffff:
		return append(b, finBit|op, 126, byte(n>>8), byte(n))
	default:
		b = append(b, finBit|op, 127)
		return binary.BigEndian.AppendUint64(b, uint64(n))
	}
}
