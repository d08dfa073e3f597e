package gateway

// Writes that do not wait (the writer pool's): one frame, one write, on a
// socket that may have no room.

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
)

// nowPool holds the state of writes that do not wait (WriteBatchNow): the
// frame and the function syscall.RawConn.Write calls, made once per
// pooled value so that a write allocates nothing.
var nowPool = sync.Pool{New: func() any {
	w := &nowWrite{b: make([]byte, 0, 4<<10)}
	w.fn = w.write
	return w
}}

// nowWrite is one write that does not wait: b is written to the socket
// with one write(2); n and err are its result (EAGAIN: the socket is full).
type nowWrite struct {
	b    []byte
	n    int
	err  error
	held bool // b starts with the handshake's held 101 response
	fn   func(fd uintptr) bool
}

func (w *nowWrite) write(fd uintptr) bool {
	for {
		w.n, w.err = syscall.Write(int(fd), w.b)
		if w.err != syscall.EINTR {
			break
		}
	}
	if w.n < 0 {
		w.n = 0
	}
	return true // never wait for the socket: the caller hands the rest over
}

// appendBatchFrame appends msgs, joined by '\n', as one text frame.
func appendBatchFrame(b []byte, msgs [][]byte) []byte {
	size := len(msgs) - 1
	for _, m := range msgs {
		size += len(m)
	}
	b = appendFrameHeader(b, opText, size)
	for i, m := range msgs {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, m...)
	}
	return b
}

// WriteBatchNow writes msgs as one text frame (and a ping frame, with
// ping) with one write(2) that does not wait: on a socket without room it
// writes nothing (writeNotNow), or keeps the unwritten end for the next
// write (writeKept). It writes nothing either when the transport has no
// raw socket (TLS, a pipe) or another write is in progress or unfinished.
func (t *wsTransport) WriteBatchNow(msgs [][]byte, ping bool, deadline time.Time) (writeResult, error) {
	w, res, err := t.beginNow(msgs, ping, deadline)
	if w == nil {
		return res, err
	}
	rawErr := t.raw.Write(w.fn)
	return t.finishNow(w, rawErr)
}

// beginNow is WriteBatchNow up to the write: it returns the frame to write
// in w, holding t.wmu until finishNow, or (w nil) what WriteBatchNow
// returns without writing. The writer pool's batched sends (sendBatch)
// write w.b themselves, many connections' frames in one system call.
func (t *wsTransport) beginNow(msgs [][]byte, ping bool, deadline time.Time) (w *nowWrite, res writeResult, err error) {
	if t.raw == nil || !t.wmu.TryLock() {
		return nil, writeNotNow, nil
	}
	// wmu stays held only with a frame returned (finishNow releases it);
	// any other way out, a panic included (the clock, SetWriteDeadline),
	// releases it here: a wmu left held blocks every later write, the
	// reader's pong and close echo too.
	begun := false
	defer func() {
		if !begun {
			t.wmu.Unlock()
		}
	}()
	if t.closeSent {
		return nil, writeDone, errCloseSent
	}
	if t.rest != nil && !t.pre {
		return nil, writeNotNow, nil
	}
	if err := t.dropOldDeadlineLocked(deadline); err != nil {
		return nil, writeDone, err
	}
	w = nowPool.Get().(*nowWrite)
	w.b = w.b[:0]
	w.held = t.pre
	if w.held { // the held 101 response goes out in the frame's write
		w.b = append(w.b, *t.rest...)
	}
	if len(msgs) > 0 {
		w.b = appendBatchFrame(w.b, msgs)
	}
	if ping {
		w.b = appendFrameHeader(w.b, opPing, 0)
	}
	begun = true
	return w, writeDone, nil
}

// finishNow ends a write beginNow began, once w.n and w.err hold the
// write's result; rawErr is the RawConn's own error (the descriptor
// closed, the deadline passed: nothing was written). It releases t.wmu
// and w.
func (t *wsTransport) finishNow(w *nowWrite, rawErr error) (writeResult, error) {
	defer t.wmu.Unlock()
	res, err := writeDone, rawErr
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The deadline a waiting writer set passed before the write
		// began (nothing written): that writer's successor waits.
		err, w.n = syscall.EAGAIN, 0
	} else if err == nil {
		err = w.err
	}
	if w.held && (w.n > 0 || err != syscall.EAGAIN) {
		t.rest, t.pre = nil, false // written, or kept below with the frame
	}
	switch {
	case err == syscall.EAGAIN && w.n == 0:
		res, err = writeNotNow, nil
	case err == syscall.EAGAIN || err == nil && w.n < len(w.b):
		rest := append([]byte(nil), w.b[w.n:]...)
		t.rest = &rest
		res, err = writeKept, nil
	case err != nil:
		t.closeSent = true // broken mid-frame: nothing more may follow
	}
	w.n, w.err = 0, nil
	if cap(w.b) <= maxPooledFrame {
		nowPool.Put(w)
	}
	return res, err
}
