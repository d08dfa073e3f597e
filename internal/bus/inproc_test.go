package bus

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pipe returns an asyncConn over one end of a net.Pipe (the embedded
// server's in-process transport) and the other end.
func pipe(t *testing.T, max int) (*asyncConn, net.Conn) {
	t.Helper()
	client, server := net.Pipe()
	a := newAsyncConn(client, max)
	t.Cleanup(func() { a.Close(); server.Close() })
	return a, server
}

// TestAsyncConnWriteDoesNotWaitForTheReader is the point of asyncConn: a
// net.Pipe's Write blocks until the other end reads; asyncConn's returns
// while its buffer has room, and the bytes arrive later, in order.
func TestAsyncConnWriteDoesNotWaitForTheReader(t *testing.T) {
	a, server := pipe(t, 1<<20)
	var want []byte
	for i := range 100 {
		p := bytes.Repeat([]byte{byte(i)}, 1000)
		want = append(want, p...)
		done := make(chan error, 1)
		go func() { _, err := a.Write(p); done <- err }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Write %d: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Write %d waited for the reader with %d bytes buffered", i, len(want))
		}
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the reader got the bytes out of order or changed")
	}
}

// TestAsyncConnFullBufferWaits: beyond max bytes a Write waits for the
// forwarder (back-pressure, as a full socket buffer), then goes on once the
// reader takes the bytes; with a write deadline it gives up.
func TestAsyncConnFullBufferWaits(t *testing.T) {
	a, server := pipe(t, 10)
	// The forwarder holds the first write in the pipe (nobody reads), the
	// second fills the buffer.
	if _, err := a.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	waitBuffered(t, a, 0) // taken by the forwarder, blocked in the pipe
	if _, err := a.Write([]byte("abcdefghij")); err != nil {
		t.Fatal(err)
	}
	if err := a.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("X")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a full buffer past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	if err := a.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := a.Write([]byte("XYZ")); done <- err }()
	got := make([]byte, 23)
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Write after the reader freed room: %v", err)
	}
	if string(got) != "0123456789abcdefghijXYZ" {
		t.Fatalf("read %q", got)
	}
}

// TestAsyncConnForwardFailure: when the server's end is gone, the failure
// reaches the writer and the client's reader.
func TestAsyncConnForwardFailure(t *testing.T) {
	a, server := pipe(t, 1<<10)
	server.Close()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, err = a.Write([]byte("PING\r\n"))
		if err == nil {
			waitBuffered(t, a, 0)
		}
	}
	if err == nil {
		t.Fatal("Write kept succeeding with the server's end closed")
	}
	if _, rerr := a.Read(make([]byte, 1)); rerr == nil {
		t.Fatal("Read succeeded on a failed connection")
	}
}

// TestAsyncConnCloseStopsWaiters: Close ends a Write waiting for room.
func TestAsyncConnCloseStopsWaiters(t *testing.T) {
	a, _ := pipe(t, 4)
	if _, err := a.Write([]byte("1234")); err != nil {
		t.Fatal(err)
	}
	waitBuffered(t, a, 0)
	if _, err := a.Write([]byte("5678")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := a.Write([]byte("9")); done <- err }()
	a.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("waiting Write after Close: %v, want net.ErrClosed", err)
	}
}

// waitBuffered waits until the forwarder has taken the buffer down to n bytes.
func waitBuffered(t *testing.T, a *asyncConn, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		l := len(a.buf)
		a.mu.Unlock()
		if l <= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("buffer still holds %d bytes, want ≤ %d", l, n)
		}
		time.Sleep(time.Millisecond)
	}
}
