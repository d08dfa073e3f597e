//go:build linux

package uring

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// pairs returns n connected loopback TCP pairs: the server ends (sent on)
// and the client ends (read from).
func pairs(t *testing.T, n int) (srv, cli []*net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		srv, cli = append(srv, s.(*net.TCPConn)), append(cli, c.(*net.TCPConn))
	}
	return srv, cli
}

// withFDs runs fn with the file descriptors of conns held open, as the
// writer pool does (each held by its RawConn for the whole Send).
func withFDs(t *testing.T, conns []*net.TCPConn, fn func(fds []int)) {
	t.Helper()
	var hold func(i int, fds []int)
	hold = func(i int, fds []int) {
		if i == len(conns) {
			fn(fds)
			return
		}
		rc, err := conns[i].SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.Control(func(fd uintptr) { hold(i+1, append(fds, int(fd))) }); err != nil {
			t.Fatal(err)
		}
	}
	hold(0, nil)
}

func newRing(t *testing.T, entries int) *Ring {
	t.Helper()
	r, err := New(entries)
	if err != nil {
		t.Skipf("no io_uring here (the writer pool then uses write(2)): %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestSendReachesEverySocket(t *testing.T) {
	r := newRing(t, 8)
	srv, cli := pairs(t, r.Cap())
	// More rounds than the rings have slots: the indexes wrap.
	for round := range 3 * r.Cap() {
		withFDs(t, srv, func(fds []int) {
			ops := make([]Op, len(fds))
			for i, fd := range fds {
				ops[i] = Op{FD: fd, Buf: []byte{byte(round), byte(i), 'x'}}
			}
			if err := r.Send(ops); err != nil {
				t.Fatal(err)
			}
			for i, op := range ops {
				if op.Err != nil || op.N != 3 {
					t.Fatalf("round %d, op %d: %d bytes, %v", round, i, op.N, op.Err)
				}
			}
		})
		for i, c := range cli {
			got := make([]byte, 3)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if want := []byte{byte(round), byte(i), 'x'}; !bytes.Equal(got, want) {
				t.Fatalf("client %d read %v, want %v", i, got, want)
			}
		}
	}
}

// A socket without room takes part of the buffer or nothing (EAGAIN): the
// send never waits, as write(2) on a non-blocking socket.
func TestSendDoesNotWait(t *testing.T) {
	r := newRing(t, 4)
	srv, cli := pairs(t, 1)
	if err := srv[0].SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	if err := cli[0].SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("y"), 1<<20)
	sent, short, again := 0, false, false
	start := time.Now()
	for !again && time.Since(start) < 10*time.Second {
		withFDs(t, srv, func(fds []int) {
			ops := []Op{{FD: fds[0], Buf: big}}
			if err := r.Send(ops); err != nil {
				t.Fatal(err)
			}
			switch {
			case errors.Is(ops[0].Err, syscall.EAGAIN):
				again = ops[0].N == 0
			case ops[0].Err != nil:
				t.Fatalf("send: %v", ops[0].Err)
			default:
				short = short || ops[0].N < len(big)
				sent += ops[0].N
			}
		})
	}
	if !short || !again {
		t.Fatalf("after %d bytes to a peer that reads nothing: short send %v, EAGAIN %v", sent, short, again)
	}
	// What was sent arrives whole and in order.
	cli[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(io.LimitReader(cli[0], int64(sent)))
	if err != nil || len(got) != sent || bytes.Count(got, []byte("y")) != sent {
		t.Fatalf("read %d of %d bytes: %v", len(got), sent, err)
	}
}

// Each op fails on its own: a closed peer or a bad descriptor do not stop
// the sends after them.
func TestSendErrorsPerOp(t *testing.T) {
	r := newRing(t, 4)
	srv, cli := pairs(t, 2)
	cli[0].SetLinger(0)
	cli[0].Close() // a reset: the server end's sends fail
	withFDs(t, srv, func(fds []int) {
		var first error
		for range 3 { // the first send after a reset may still be taken
			ops := []Op{{FD: fds[0], Buf: []byte("a")}, {FD: -1, Buf: []byte("b")}, {FD: fds[1], Buf: []byte("c")}}
			if err := r.Send(ops); err != nil {
				t.Fatal(err)
			}
			if ops[1].Err != syscall.EBADF || ops[2].Err != nil || ops[2].N != 1 {
				t.Fatalf("ops: %+v", ops)
			}
			if first = ops[0].Err; first != nil {
				break
			}
		}
		if !errors.Is(first, syscall.ECONNRESET) && !errors.Is(first, syscall.EPIPE) {
			t.Fatalf("send to a reset peer: %v", first)
		}
	})
}

func TestSendBounds(t *testing.T) {
	r := newRing(t, 2)
	ops := make([]Op, r.Cap()+1)
	if err := r.Send(ops); err == nil || ops[0].Err != syscall.EAGAIN {
		t.Fatalf("more ops than the ring's entries: %v, op error %v (want EAGAIN: nothing sent)", err, ops[0].Err)
	}
	if err := r.Send(nil); err != nil {
		t.Fatal(err)
	}
	r.Close()
	ops = []Op{{FD: -1}}
	if err := r.Send(ops); err == nil || ops[0].Err != syscall.EAGAIN {
		t.Fatalf("send after Close: %v, op error %v (want EAGAIN: nothing sent)", err, ops[0].Err)
	}
	if _, err := New(0); err == nil {
		t.Fatal("New(0): no error")
	}
}
