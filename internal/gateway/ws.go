package gateway

// This file is the only one that knows the WebSocket library; the rest of
// the package sees a transport. Swapping gorilla/websocket for another
// library means rewriting this file alone.

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// WebSocket close codes used by the gateway.
const (
	closeGoingAway = websocket.CloseGoingAway       // 1001: draining
	closePolicy    = websocket.ClosePolicyViolation // 1008: limits abused
	closeInternal  = websocket.CloseInternalServerErr
)

// errTooLarge is returned by ReadMessage for a message over the limit.
var errTooLarge = errors.New("message too large")

// transport is one established WebSocket connection. ReadMessage and
// SetReadDeadline are called by the reader goroutine only; the Write methods
// by the writer goroutine only; Close from either.
type transport interface {
	// WaitReadable blocks until the client has sent something (or the
	// connection failed, or the read deadline passed), holding no buffer
	// and using little stack.
	WaitReadable() error
	// ReadMessage returns the next data message, or errTooLarge when it
	// is longer than limit bytes (the rest of it is discarded by the next
	// calls), or nil and no error when only control frames were read.
	ReadMessage(limit int) ([]byte, error)
	SetReadDeadline(t time.Time) error
	// WriteBatch writes msgs as one text message, joined by '\n'.
	WriteBatch(msgs [][]byte, deadline time.Time) error
	WritePing(deadline time.Time) error
	WriteClose(code int, reason string, deadline time.Time) error
	Close() error
}

// wsUpgrader upgrades HTTP requests with gorilla/websocket, which does the
// handshake only. Frames are read and written here, on the socket (RFC 6455
// framing without extensions is short): frames from the client are read
// after waiting for the socket to become readable with a shallow stack, so
// an idle connection holds no read buffer and its goroutine's stack stays
// small; frames to the client are built in a pooled buffer held only while
// it is written, written with one syscall, and the write deadline is not
// reset on every write.
type wsUpgrader struct {
	u   websocket.Upgrader
	now func() time.Time // the clock of the transports it makes
}

func newUpgrader(checkOrigin func(*http.Request) bool, now func() time.Time) *wsUpgrader {
	return &wsUpgrader{now: now, u: websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   128, // gorilla's reader and writer are never used: the minimum
		WriteBufferSize:  128,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      checkOrigin,
	}}
}

// Upgrade completes the handshake; on failure it has already answered the
// request with an HTTP error. onPong is called by the reader on every pong.
func (u *wsUpgrader) Upgrade(w http.ResponseWriter, r *http.Request, onPong func()) (transport, error) {
	c, err := u.u.Upgrade(w, r, nil)
	if err != nil {
		return nil, err
	}
	// From here on gorilla's Conn is not used (nor kept): frames are read
	// and written on its socket by wsTransport.
	t := &wsTransport{nc: c.NetConn(), onPong: onPong, now: u.now}
	if sc, ok := t.nc.(syscall.Conn); ok {
		t.raw, _ = sc.SyscallConn()
	}
	return t, nil
}

// wsTransport reads and writes frames on the socket gorilla/websocket
// handed over after the handshake.
type wsTransport struct {
	nc     net.Conn        // the socket
	raw    syscall.RawConn // nil: no shallow wait
	onPong func()
	now    func() time.Time // nil: time.Now
	hdr    [12]byte         // reader only: extended length and mask key
	skip   bool             // reader only: discard continuation frames of a message too large

	wmu       sync.Mutex
	wdeadline time.Time // the socket's write deadline as last set
	closeSent bool      // a close frame was written (or a write failed): no more frames
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
)

// errProtocol ends a connection whose client broke RFC 6455 framing.
var errProtocol = errors.New("websocket protocol error")

// errClosed is returned by ReadMessage after the client's close frame.
var errClosed = errors.New("websocket closed by the client")

// WaitReadable waits (shallow, without a buffer) for the socket to be
// readable.
func (t *wsTransport) WaitReadable() error {
	if t.raw == nil {
		return nil
	}
	return waitReadable(t.raw)
}

// ReadMessage reads frames until a whole data message is in. Pings are
// answered, pongs reported, a close is echoed and ends the connection. A
// control frame outside a message (a pong, typically) returns nil, nil at
// once, so that an idle connection goes back to WaitReadable instead of
// blocking here, deeper and on a second goroutine.
func (t *wsTransport) ReadMessage(limit int) ([]byte, error) {
	var msg []byte
	started := false
	for {
		op, fin, n, err := t.readHeader()
		if err != nil {
			return nil, err
		}
		switch op {
		case opPing, opPong, opClose:
			if !fin || n > 125 {
				return nil, errProtocol
			}
			p := make([]byte, n)
			if err := t.readPayload(p); err != nil {
				return nil, err
			}
			if err := t.control(op, p); err != nil {
				return nil, err
			}
			if !started {
				return nil, nil // nothing more to wait for here: back to the shallow wait
			}
			continue
		case opText, opBinary:
			if started || t.skip {
				return nil, errProtocol
			}
			started = true
		case opContinuation:
			if t.skip {
				if _, err := io.CopyN(io.Discard, t.nc, int64(n)); err != nil {
					return nil, err
				}
				t.skip = !fin
				return nil, nil
			}
			if !started {
				return nil, errProtocol
			}
		default:
			return nil, errProtocol
		}
		if uint64(len(msg))+n > uint64(limit) {
			if _, err := io.CopyN(io.Discard, t.nc, int64(n)); err != nil {
				return nil, err
			}
			t.skip = !fin
			return nil, errTooLarge
		}
		start := len(msg)
		msg = append(msg, make([]byte, n)...)
		if err := t.readPayload(msg[start:]); err != nil {
			return nil, err
		}
		if fin {
			if msg == nil {
				msg = []byte{}
			}
			return msg, nil
		}
	}
}

// readHeader reads one frame header; the mask key is left in t.hdr[8:12].
func (t *wsTransport) readHeader() (op byte, fin bool, n uint64, err error) {
	h := t.hdr[:2]
	if _, err = io.ReadFull(t.nc, h); err != nil {
		return 0, false, 0, err
	}
	b0, b1 := h[0], h[1]
	if b0&rsvBits != 0 || b1&maskBit == 0 {
		return 0, false, 0, errProtocol // no extension was negotiated; clients must mask
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
			return 0, false, 0, errProtocol
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

func (t *wsTransport) control(op byte, p []byte) error {
	deadline := t.clock().Add(5 * time.Second)
	switch op {
	case opPing:
		_ = t.writeControl(opPong, p, deadline)
	case opPong:
		t.onPong()
	case opClose:
		code := websocket.CloseNoStatusReceived
		if len(p) >= 2 {
			code = int(binary.BigEndian.Uint16(p))
		}
		echo := []byte{}
		if code != websocket.CloseNoStatusReceived {
			echo = websocket.FormatCloseMessage(code, "")
		}
		_ = t.writeControl(opClose, echo, deadline)
		return errClosed
	}
	return nil
}

// clock reads the transport's clock (Config.Now).
func (t *wsTransport) clock() time.Time {
	if t.now == nil {
		return time.Now()
	}
	return t.now()
}

func (t *wsTransport) SetReadDeadline(d time.Time) error { return t.nc.SetReadDeadline(d) }

// framePool holds the buffers frames are built in: a frame is written with
// one syscall from a buffer held only while it is written.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// maxPooledFrame bounds the buffers framePool keeps.
const maxPooledFrame = maxFrameBytes + 16<<10

// WriteBatch writes msgs, joined by '\n', as one text frame with one write.
func (t *wsTransport) WriteBatch(msgs [][]byte, deadline time.Time) error {
	size := len(msgs) - 1
	for _, m := range msgs {
		size += len(m)
	}
	bp := framePool.Get().(*[]byte)
	b := appendFrameHeader((*bp)[:0], opText, size)
	for i, m := range msgs {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, m...)
	}
	err := t.write(b, deadline, false)
	if cap(b) <= maxPooledFrame {
		*bp = b[:0]
		framePool.Put(bp)
	}
	return err
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

// write writes one whole frame; the writer and the reader (pongs, the close
// echo) both write, so writes are serialized by wmu. The socket's write
// deadline is moved only when the one set would expire more than an eighth
// of the timeout early: setting a deadline per write costs a timer update
// per write, which showed as 11 % of the fan-out's CPU.
func (t *wsTransport) write(b []byte, deadline time.Time, close bool) error {
	t.wmu.Lock()
	err := t.writeLocked(b, deadline, close)
	t.wmu.Unlock()
	return err
}

func (t *wsTransport) writeLocked(b []byte, deadline time.Time, close bool) error {
	if t.closeSent {
		return errCloseSent
	}
	if slack := deadline.Sub(t.clock()) / 8; t.wdeadline.Before(deadline.Add(-slack)) {
		if err := t.nc.SetWriteDeadline(deadline); err != nil {
			return err
		}
		t.wdeadline = deadline
	}
	if _, err := t.nc.Write(b); err != nil {
		t.closeSent = true // the stream is broken mid-frame: nothing more may follow
		return err
	}
	t.closeSent = close
	return nil
}

// errCloseSent is returned by writes after the close frame.
var errCloseSent = errors.New("websocket close already sent")

func (t *wsTransport) writeControl(op byte, payload []byte, deadline time.Time) error {
	var a [2 + 125]byte
	if len(payload) > 125 {
		payload = payload[:125]
	}
	b := append(appendFrameHeader(a[:0], op, len(payload)), payload...)
	return t.write(b, deadline, op == opClose)
}

func (t *wsTransport) WritePing(deadline time.Time) error {
	return t.writeControl(opPing, nil, deadline)
}

func (t *wsTransport) WriteClose(code int, reason string, deadline time.Time) error {
	return t.writeControl(opClose, websocket.FormatCloseMessage(code, reason), deadline)
}

func (t *wsTransport) Close() error { return t.nc.Close() }
