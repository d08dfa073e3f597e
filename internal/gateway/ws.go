package gateway

// This file and handshake.go are the WebSocket transport; the rest of the
// package sees a transport.

import (
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

// transport is one established WebSocket connection. ReadMessage and
// SetReadDeadline are called by the reader goroutine only; the Write methods
// by the writer goroutine only; Close from either.
type transport interface {
	// WaitReadable blocks until the client has sent something (or the
	// connection failed, or the read deadline passed), holding no buffer
	// and using little stack.
	WaitReadable() error
	// ReadMessage returns the next data message, or nil and no error when
	// only control frames were read. A *failure means the client broke
	// the protocol or a frame limit (a message over limit bytes is refused
	// from its header) and nothing more can be read; a *peerClose that
	// the client closed.
	ReadMessage(limit int) ([]byte, error)
	// Linger reads and drops what the client still sends, for a while,
	// after a failure: see lingerTime.
	Linger()
	SetReadDeadline(t time.Time) error
	// WriteBatch writes msgs as one text message, joined by '\n'.
	WriteBatch(msgs [][]byte, deadline time.Time) error
	// WriteBatchNow is WriteBatch without waiting for the socket (the
	// pool's writer calls it): see writeResult. With ping, a ping frame
	// follows the message (or goes alone when msgs is empty) in the same
	// write. An error is the transport's end, as from WriteBatch.
	WriteBatchNow(msgs [][]byte, ping bool, deadline time.Time) (writeResult, error)
	// Flush writes the end of a frame a write left kept (writeKept, or a
	// timeout), if any.
	Flush(deadline time.Time) error
	WritePing(deadline time.Time) error
	// WriteClose writes a close frame (without a code for closeNoStatus)
	// and ends the sending direction: nothing may follow it.
	WriteClose(code int, reason string, deadline time.Time) error
	Close() error
}

// wsUpgrader completes WebSocket handshakes (handshake.go). Frames are
// read and written here, on the socket (RFC 6455 framing without
// extensions is short): frames from the client are read after waiting for
// the socket to become readable with a shallow stack, so an idle
// connection holds no read buffer and its goroutine's stack stays small;
// frames to the client are built in a pooled buffer held only while it is
// written, written with one syscall, and the write deadline is not reset
// on every write.
type wsUpgrader struct {
	checkOrigin func(*http.Request) bool
	now         func() time.Time // the clock of the transports it makes
	// pingEvery (ns) and pingBurst: a client may send pingBurst control
	// frames at once, then one every pingEvery (Config.PingRate).
	pingEvery, pingBurst int64
	pingRate             float64
	met                  *frameMetrics // nil: none
}

func newUpgrader(checkOrigin func(*http.Request) bool, cfg *Config, met *frameMetrics) *wsUpgrader {
	return &wsUpgrader{
		checkOrigin: checkOrigin,
		now:         cfg.Now,
		pingRate:    cfg.PingRate,
		pingEvery:   int64(float64(time.Second) / cfg.PingRate),
		pingBurst:   int64(cfg.PingBurst),
		met:         met,
	}
}

// ponger is told of each pong the reader reads. The connection is one
// (conn.pong): a closure over it cost an allocation per connect.
type ponger interface{ pong() }

// pongFunc is a func as a ponger (tests).
type pongFunc func()

func (f pongFunc) pong() { f() }

// wsTransport reads and writes frames on the socket net/http handed over
// after the handshake.
type wsTransport struct {
	nc     net.Conn        // the socket
	raw    syscall.RawConn // nil: no shallow wait
	onPong ponger
	u      *wsUpgrader // its clock, ping rate and metrics; nil: time.Now, no limit, no metrics
	hdr    [12]byte    // reader only: extended length and mask key
	// closeSent (guarded by wmu): a close frame was written, or a write
	// failed; no more frames. Here it fills hdr's padding.
	closeSent bool
	// pre (guarded by wmu): rest holds the handshake's 101 response (or
	// its end), held for the first frame's write (see Upgrade's hold).
	pre bool
	// pingTAT (reader only) is the ping rate limiter's state: see allowPing.
	pingTAT int64

	wmu sync.Mutex
	// wdeadline is the socket's write deadline as last set (sinceEpoch;
	// 0: none): an int64, not a time.Time, keeps the transport at 112 B.
	wdeadline int64
	// rest (guarded by wmu) is the unwritten end of a frame a write
	// timeout interrupted; a pointer, to keep an idle connection's
	// transport at 112 bytes.
	rest *[]byte
}

// clock reads the transport's clock (Config.Now).
func (t *wsTransport) clock() time.Time {
	if t.u == nil || t.u.now == nil {
		return time.Now()
	}
	return t.u.now()
}

// WaitReadable waits (shallow, without a buffer) for the socket to be
// readable.
func (t *wsTransport) WaitReadable() error {
	if t.raw == nil {
		return nil
	}
	return waitReadable(t.raw)
}

func (t *wsTransport) SetReadDeadline(d time.Time) error { return t.nc.SetReadDeadline(d) }

// framePool holds the buffers frames are built in: a frame is written with
// one syscall from a buffer held only while it is written.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// Flush writes the end of a frame a write kept, if any.
func (t *wsTransport) Flush(deadline time.Time) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.rest == nil || t.closeSent {
		return nil
	}
	return t.writeRestLocked(deadline)
}

// writeRestLocked writes *t.rest, the end of a frame (or handshake
// response) not yet sent, under deadline; t.wmu is held.
func (t *wsTransport) writeRestLocked(deadline time.Time) error {
	if err := t.setWriteDeadlineLocked(deadline); err != nil {
		return err
	}
	n, err := t.nc.Write(*t.rest)
	if *t.rest = (*t.rest)[n:]; err != nil {
		return t.writeFailed(nil, err)
	}
	t.rest, t.pre = nil, false
	return nil
}

// maxPooledFrame bounds the buffers framePool keeps.
const maxPooledFrame = maxFrameBytes + 16<<10

// WriteBatch writes msgs, joined by '\n', as one text frame with one write.
func (t *wsTransport) WriteBatch(msgs [][]byte, deadline time.Time) error {
	bp := framePool.Get().(*[]byte)
	b := appendBatchFrame((*bp)[:0], msgs)
	err := t.write(b, deadline, false)
	if cap(b) <= maxPooledFrame {
		*bp = b[:0]
		framePool.Put(bp)
	}
	return err
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
	if err := t.setWriteDeadlineLocked(deadline); err != nil {
		return err
	}
	if t.rest != nil { // a frame a timeout interrupted (or the 101) goes out first
		n, err := t.nc.Write(*t.rest)
		if *t.rest = (*t.rest)[n:]; err != nil {
			return t.writeFailed(nil, err)
		}
		t.rest, t.pre = nil, false
	}
	if n, err := t.nc.Write(b); err != nil {
		return t.writeFailed(b[n:], err)
	}
	t.closeSent = close
	return nil
}

// dropOldDeadlineLocked clears the socket's write deadline when it would
// pass within an eighth of deadline's timeout: a write that does not wait
// (WriteBatchNow) needs none, but one set by a write that waited must not
// fail it. A deadline per write cost a runtime timer update every few
// writes (3.4 % of the fan-out's CPU at 200 ticks/s, 10,000 connections);
// this clears it at most once after a writer that waited. Caller holds wmu.
func (t *wsTransport) dropOldDeadlineLocked(deadline time.Time) error {
	if t.wdeadline == 0 {
		return nil
	}
	now := t.clock()
	if t.wdeadline >= sinceEpoch(now.Add(deadline.Sub(now)/8)) {
		return nil
	}
	if err := t.nc.SetWriteDeadline(time.Time{}); err != nil {
		return err
	}
	t.wdeadline = 0
	return nil
}

// setWriteDeadlineLocked moves the socket's write deadline to deadline
// unless the one set expires at most an eighth of the timeout early.
// Caller holds wmu.
func (t *wsTransport) setWriteDeadlineLocked(deadline time.Time) error {
	if slack := deadline.Sub(t.clock()) / 8; t.wdeadline == 0 || t.wdeadline < sinceEpoch(deadline.Add(-slack)) {
		if err := t.nc.SetWriteDeadline(deadline); err != nil {
			return err
		}
		t.wdeadline = sinceEpoch(deadline)
	}
	return nil
}

// writeFailed handles a write that stopped with unwritten (the rest of the
// frame, a copy is kept) and err. After a timeout the connection is still
// usable, and the next write finishes the frame first, so that the writer
// can still send a slow consumer its gaps and a close frame; after another
// error the stream is broken mid-frame and nothing more may follow.
func (t *wsTransport) writeFailed(unwritten []byte, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if len(unwritten) > 0 {
			rest := append([]byte(nil), unwritten...)
			t.rest = &rest
		}
		return err
	}
	t.closeSent = true
	return err
}

// errCloseSent is returned by writes after the close frame.
var errCloseSent = errors.New("websocket close already sent")

func (t *wsTransport) writeControl(op byte, payload []byte, deadline time.Time) error {
	var a [2 + 125]byte
	if len(payload) > 125 {
		payload = payload[:125]
	}
	b := append(appendFrameHeader(a[:0], op, len(payload)), payload...)
	err := t.write(b, deadline, op == opClose)
	if op == opClose && err == nil {
		if t.u != nil && t.u.met != nil {
			t.u.met.closed(payload)
		}
		// The close frame is the last: end the sending direction (a FIN),
		// so that the client, having read it, sees the end at once.
		if cw, ok := t.nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}
	return err
}

func (t *wsTransport) WritePing(deadline time.Time) error {
	return t.writeControl(opPing, nil, deadline)
}

func (t *wsTransport) WriteClose(code int, reason string, deadline time.Time) error {
	return t.writeControl(opClose, closePayload(code, reason), deadline)
}

func (t *wsTransport) Close() error { return t.nc.Close() }
