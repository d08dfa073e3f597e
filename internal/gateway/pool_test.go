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
	defer peer.Close()
	nc, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer nc.Close()
	raw, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	tr := &wsTransport{nc: nc, raw: raw}
	deadline := time.Now().Add(10 * time.Second)
	var sent []string
	var res writeResult
	for i := 0; i < 100000; i++ { // the socket fills long before (a few MB)
		msg := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, bytes.Repeat([]byte("x"), 1000))
		if res, err = tr.WriteBatchNow([][]byte{[]byte(msg)}, deadline); err != nil {
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
	if r, _ := tr.WriteBatchNow([][]byte{[]byte("x")}, deadline); res == writeKept && r != writeNotNow {
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
