package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestWriteBatchNowKeepsTheRest writes frames without waiting to a TCP peer
// that does not read until the socket is full: WriteBatchNow must then say
// so (writeKept or writeNotNow) instead of waiting, and after Flush the peer
// must read every frame whole and in order.
func TestWriteBatchNowKeepsTheRest(t *testing.T) {
	tr, peer := rawTransport(t)
	deadline := time.Now().Add(10 * time.Second)
	var sent []string
	var res writeResult
	var err error
	for i := 0; i < 100000; i++ { // the socket fills long before (a few MB)
		msg := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, bytes.Repeat([]byte("x"), 1000))
		if res, err = tr.WriteBatchNow([][]byte{[]byte(msg)}, false, deadline); err != nil {
			t.Fatal(err)
		}
		if res == writeNotNow {
			break
		}
		sent = append(sent, msg)
		if res == writeKept {
			break
		}
	}
	if res == writeDone {
		t.Fatal("the socket never filled")
	}
	t.Logf("%d frames handed over, last %v", len(sent), res)
	if r, _ := tr.WriteBatchNow([][]byte{[]byte("x")}, false, deadline); res == writeKept && r != writeNotNow {
		t.Errorf("with a kept rest, WriteBatchNow = %v, want writeNotNow", r)
	}
	done := make(chan error, 1)
	go func() { done <- tr.Flush(deadline) }()
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second)) // a rest never written fails, not hangs
	br := bufio.NewReader(peer)
	for i, want := range sent {
		var h [10]byte
		if _, err := io.ReadFull(br, h[:2]); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		n := int(h[1] & 0x7f)
		if n == 126 {
			if _, err := io.ReadFull(br, h[2:4]); err != nil {
				t.Fatal(err)
			}
			n = int(binary.BigEndian.Uint16(h[2:4]))
		}
		if h[0] != finBit|opText || n != len(want) {
			t.Fatalf("frame %d: header %x length %d, want a text frame of %d", i, h[:2], n, len(want))
		}
		got := make([]byte, n)
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("frame %d: got %.40q…, want %.40q…", i, got, want)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if tr.rest != nil {
		t.Error("a rest is still kept after Flush")
	}
}

// rawTransport is a transport on a loopback TCP socket with its raw
// socket, and the peer's end.
func rawTransport(t testing.TB) (*wsTransport, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	nc, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { nc.Close() })
	raw, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return &wsTransport{nc: nc, raw: raw}, peer
}

// TestWriteBatchNowSetsNoDeadline: a write that never waits needs no
// deadline (setting one every few writes was a runtime timer update, 3.4 %
// of the fan-out's CPU), but a deadline left by a writer that waited must
// not fail it: one about to pass is cleared, and one that passed all the
// same before the write began makes it writeNotNow (the connection's own
// writer then sets a new one), not an error that ends the connection.
func TestWriteBatchNowSetsNoDeadline(t *testing.T) {
	tr, peer := rawTransport(t)
	msg := [][]byte{[]byte(`{"type":"tick"}`)}
	deadline := time.Now().Add(10 * time.Second)
	if res, err := tr.WriteBatchNow(msg, false, deadline); res != writeDone || err != nil {
		t.Fatalf("WriteBatchNow = %v, %v", res, err)
	}
	if tr.wdeadline != 0 {
		t.Errorf("WriteBatchNow set a write deadline (%v)", tr.wdeadline)
	}
	// a waiting writer's deadline, about to pass: cleared, and the write done
	if err := tr.write([]byte{0x81, 0}, time.Now().Add(time.Second), false); err != nil {
		t.Fatal(err)
	}
	if res, err := tr.WriteBatchNow(msg, false, time.Now().Add(10*time.Second)); res != writeDone || err != nil {
		t.Fatalf("after a near deadline: WriteBatchNow = %v, %v", res, err)
	}
	if tr.wdeadline != 0 {
		t.Errorf("a deadline about to pass was kept (%v)", tr.wdeadline)
	}
	// one the transport does not know of, passed: nothing written, no error
	if err := tr.nc.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if res, err := tr.WriteBatchNow(msg, false, time.Now().Add(10*time.Second)); res != writeNotNow || err != nil {
		t.Fatalf("after a passed deadline: WriteBatchNow = %v, %v; want writeNotNow, no error", res, err)
	}
	if err := tr.WriteBatch(msg, time.Now().Add(10*time.Second)); err != nil {
		t.Fatalf("the waiting write after it: %v", err)
	}
	want := 3*(2+len(msg[0])) + 2
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(peer, make([]byte, want)); err != nil {
		t.Fatalf("reading the %d bytes written: %v", want, err)
	}
}

// TestBusyOnlyWhenQuick: a connection waits out WriteCoalesce before its
// next write only when it is written often (its last two writes less than
// twice WriteCoalesce apart). One sent a tick every few hundred ms (the
// fan-out) but twice within the window by chance wrote at once before: a
// goroutine, a timer and up to 50 ms of latency for one tick in ten at 2
// ticks/s, with seldom a second tick to share the frame.
func TestBusyOnlyWhenQuick(t *testing.T) {
	var now time.Time
	h := New(nil, Config{WriteCoalesce: 50 * time.Millisecond, Now: func() time.Time { return now }}, nil, nil)
	c := newConn(h, 0)
	base := time.Unix(1_700_000_000, 0)
	at := func(ms int) { now = base.Add(time.Duration(ms) * time.Millisecond) }
	steps := []struct {
		write    bool
		ms       int
		wantBusy bool
	}{
		{true, 0, false},    // first write
		{false, 10, false},  // 10 ms later: one write is not often
		{true, 300, false},  // 300 ms apart: not quick
		{false, 310, false}, // so not busy within the window either
		{true, 320, false},  // 20 ms apart: quick from now on
		{false, 330, true},  // within the window: wait for the rest of it
		{true, 370, false},  // a writer that waited: 50 ms apart, still quick
		{false, 380, true},
		{false, 420, false}, // the window has passed
		{true, 600, false},  // 230 ms apart: no longer quick
		{false, 610, false},
	}
	for _, s := range steps {
		at(s.ms)
		c.mu.Lock()
		if s.write {
			c.wroteLocked(now.UnixNano())
		} else if got := c.busyLocked(); got != s.wantBusy {
			t.Errorf("at %d ms: busy = %v, want %v", s.ms, got, s.wantBusy)
		}
		c.mu.Unlock()
	}
}

// TestPoolWritesPings: a ping due is written by the pool's writer, in the
// write of the round's last frame or alone, not by the connection's own
// writer. Before, every ping started one (333 a second at 10,000
// connections pinged every 30 s), each growing its stack and setting a
// write deadline: a fixed cost of an idle server.
func TestPoolWritesPings(t *testing.T) {
	h := New(nil, Config{}, nil, nil)
	tr, peer := rawTransport(t)
	c := newConn(h, 0)
	c.t = tr
	tick := []byte(`{"type":"tick"}`)
	for _, queued := range [][]byte{tick, nil} {
		c.mu.Lock()
		if queued != nil {
			c.appendLocked(queued)
		}
		c.pingDue = true
		c.writing = true // as signalLocked leaves it
		c.mu.Unlock()
		var w writeJob
		if res := c.take(&w, true); res != takeBatch || !w.ping {
			t.Fatalf("the pool's take of a ping due = %v (ping %v), want takeBatch with the ping", res, w.ping)
		}
		c.mu.Lock()
		c.q, c.pingDue = w.batch, true // put it back for writeRound
		c.mu.Unlock()
		var n writeCount
		c.writeRound(&n)
		c.mu.Lock()
		writing := c.writing
		c.mu.Unlock()
		if writing {
			t.Errorf("queued %q: a writer still runs after the pool's round (its own writer was started)", queued)
		}
		want := []byte{finBit | opPing, 0}
		if queued != nil {
			want = append(append([]byte{finBit | opText, byte(len(tick))}, tick...), want...)
		}
		got := make([]byte, len(want))
		_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(peer, got); err != nil {
			t.Fatalf("queued %q: reading the round's %d bytes: %v", queued, len(want), err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("queued %q: the peer read %x, want %x", queued, got, want)
		}
	}
}

// TestPoolKeptPingOnNilQueue: a ping-only round of the pool's writer on a
// connection whose queue slice is nil (take moved it to spare, or
// idleLocked let a burst's go) and whose socket takes only part of the
// ping (writeKept). The own writer the round hands over to must finish the
// kept frame, though it was handed no batch: before, a nil batch read as
// "nothing handed over" and the ping's tail stayed in the transport until
// the next message or ping (a client answering only pings could be
// disconnected as silent).
func TestPoolKeptPingOnNilQueue(t *testing.T) {
	h := New(nil, Config{}, nil, nil)
	tr, peer := rawTransport(t)
	c := newConn(h, 0)
	c.t = &partialPing{wsTransport: tr}
	c.mu.Lock()
	c.pingDue = true
	c.signalLocked() // as the hub's pingSlot does
	c.mu.Unlock()
	got := make([]byte, 2)
	_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := io.ReadFull(peer, got)
	if err != nil {
		c.mu.Lock()
		writing := c.writing
		c.mu.Unlock()
		t.Fatalf("the peer read %x (%d bytes) of the ping: %v; writer running %v", got[:n], n, err, writing)
	}
	if got[0] != finBit|opPing || got[1] != 0 {
		t.Fatalf("read %x, want an empty ping frame", got)
	}
}

// partialPing is a wsTransport whose first ping-only WriteBatchNow is
// taken in part by the socket (1 of its 2 bytes), as when write(2) returns
// 1: writeKept, the rest kept for the next write, as WriteBatchNow does.
type partialPing struct {
	*wsTransport
	done bool
}

func (p *partialPing) WriteBatchNow(msgs [][]byte, ping bool, deadline time.Time) (writeResult, error) {
	if !ping || len(msgs) > 0 || p.done {
		return p.wsTransport.WriteBatchNow(msgs, ping, deadline)
	}
	p.done = true
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if _, err := p.nc.Write([]byte{finBit | opPing}); err != nil {
		return writeDone, err
	}
	rest := []byte{0}
	p.rest = &rest
	return writeKept, nil
}

// A panic between beginNow's TryLock and its return (here the transport's
// clock, read by dropOldDeadlineLocked) releases t.wmu: held, it would
// block every later write, the reader's pong and close echo included.
func TestWriteBatchNowPanicReleasesLock(t *testing.T) {
	tr, _ := rawTransport(t)
	tr.wdeadline = 1 // a deadline left by a writer that waited: beginNow reads the clock
	tr.u = &wsUpgrader{now: func() time.Time { panic("injected clock panic") }}
	func() {
		defer func() { _ = recover() }() // as writeRound's recoverWriter does
		_, _ = tr.WriteBatchNow([][]byte{[]byte(`{"type":"tick"}`)}, false, time.Now().Add(time.Second))
	}()
	if !tr.wmu.TryLock() {
		t.Fatal("after a panic inside WriteBatchNow the transport's wmu is still locked")
	}
	tr.wmu.Unlock()
}
