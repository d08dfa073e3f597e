package bus

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// maxInProcPending bounds the bytes an in-process connection holds for the
// embedded server beyond what the server has read (the role a TCP socket's
// send buffer plays): a Write that would exceed it waits. 4 MiB is about
// 4,000 one-tick publishes, or a few 5,000-tick POSTs.
const maxInProcPending = 4 << 20

// asyncInProc hands the NATS client in-process connections whose writes do
// not wait for the embedded server to read them.
//
// Why: the embedded server's in-process connection is a net.Pipe, whose
// Write returns only once the server's read loop has taken every byte — and
// that loop parses and stores each chunk before reading the next. nats.go's
// flusher holds the connection's lock over that Write, so every concurrent
// PublishAsync (every POST of ticks) waited for the server to process the
// previous flush: 82–94 % of the server's mutex delay with one-tick POSTs
// (docs/benchmarks/ingest.md). A TCP socket decouples the two with its
// kernel buffer; asyncConn does the same in memory, without a port or a
// syscall.
type asyncInProc struct {
	provider nats.InProcessConnProvider
	max      int // bytes buffered before Write waits
}

// InProcessConn returns a new connection to the embedded server whose writes
// are forwarded by a goroutine the connection owns until it is closed.
func (a asyncInProc) InProcessConn() (net.Conn, error) {
	c, err := a.provider.InProcessConn()
	if err != nil {
		return nil, fmt.Errorf("in-process nats connection: %w", err)
	}
	return newAsyncConn(c, a.max), nil
}

// asyncConn is a net.Conn whose Write copies into a bounded buffer that a
// forwarder goroutine writes to the underlying connection, in order. Reads,
// addresses and read deadlines are the underlying connection's. A failed
// forward closes the underlying connection, so the client's reader sees it
// too, and later Writes return the error. Close stops the forwarder;
// buffered bytes not yet forwarded are discarded, as a closed socket's
// would be (nats.go's Flush and Drain wait for the server's PONG, which
// follows everything written before it).
type asyncConn struct {
	net.Conn

	max   int
	wake  chan struct{} // cap 1: the buffer has bytes for the forwarder
	space chan struct{} // cap 1: the forwarder took the buffer
	done  chan struct{} // closed by Close
	once  sync.Once

	mu       sync.Mutex
	buf      []byte    // bytes written, not yet taken by the forwarder
	err      error     // the forward's failure, or net.ErrClosed after Close
	deadline time.Time // write deadline; zero: none
}

func newAsyncConn(c net.Conn, max int) *asyncConn {
	a := &asyncConn{
		Conn:  c,
		max:   max,
		wake:  make(chan struct{}, 1),
		space: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	go a.forward()
	return a
}

// Write queues p for the server and returns at once while the buffer holds
// fewer than max bytes (or is empty: a larger p is taken whole); otherwise it
// waits for the forwarder, the write deadline or Close.
func (a *asyncConn) Write(p []byte) (int, error) {
	var timer <-chan time.Time
	for {
		a.mu.Lock()
		if a.err != nil {
			err := a.err
			a.mu.Unlock()
			return 0, err
		}
		if len(a.buf) == 0 || len(a.buf)+len(p) <= a.max {
			a.buf = append(a.buf, p...)
			a.mu.Unlock()
			select {
			case a.wake <- struct{}{}:
			default:
			}
			return len(p), nil
		}
		dl := a.deadline
		a.mu.Unlock()
		if timer == nil && !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-a.space:
		case <-a.done:
		case <-timer:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// forward writes the buffered bytes to the underlying connection until Close
// or a failed write. It swaps the buffer with a spare one so that Write
// appends while the previous bytes are being forwarded.
func (a *asyncConn) forward() {
	var out []byte
	for {
		select {
		case <-a.wake:
		case <-a.done:
			return
		}
		a.mu.Lock()
		out, a.buf = a.buf, out[:0]
		a.mu.Unlock()
		select {
		case a.space <- struct{}{}:
		default:
		}
		if len(out) == 0 {
			continue
		}
		if _, err := a.Conn.Write(out); err != nil {
			a.mu.Lock()
			if a.err == nil {
				a.err = fmt.Errorf("forward to the in-process server: %w", err)
			}
			a.mu.Unlock()
			a.Conn.Close()
			select {
			case a.space <- struct{}{}:
			default:
			}
			return
		}
	}
}

// Close closes the underlying connection and stops the forwarder.
func (a *asyncConn) Close() error {
	err := net.ErrClosed
	a.once.Do(func() {
		a.mu.Lock()
		if a.err == nil {
			a.err = net.ErrClosed
		}
		a.mu.Unlock()
		close(a.done)
		err = a.Conn.Close()
	})
	return err
}

// SetDeadline sets the read deadline of the underlying connection and the
// deadline of a Write waiting for buffer space.
func (a *asyncConn) SetDeadline(t time.Time) error {
	return errors.Join(a.Conn.SetReadDeadline(t), a.SetWriteDeadline(t))
}

// SetWriteDeadline bounds how long a Write waits for buffer space; a Write
// that fits returns at once whatever the deadline.
func (a *asyncConn) SetWriteDeadline(t time.Time) error {
	a.mu.Lock()
	a.deadline = t
	a.mu.Unlock()
	return nil
}
