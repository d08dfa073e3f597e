//go:build unix

package gateway

import (
	"net"
	"syscall"
	"testing"
)

// TestWaitReadableAllocs: waiting for a socket that holds data, and reading
// what a new connection holds without waiting, allocate nothing (both run
// per connect, the wait also per client message).
func TestWaitReadableAllocs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := cc.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rc, err := sc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := waitReadable(rc); err != nil { // the byte has arrived
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = waitReadable(rc) }); n != 0 {
		t.Errorf("waitReadable: %v allocations", n)
	}
	buf := make([]byte, 16)
	if n := readNow(rc, buf); n != 1 || buf[0] != 'x' {
		t.Fatalf("readNow: %d %q", n, buf[:n])
	}
	if n := testing.AllocsPerRun(100, func() { _ = readNow(rc, buf) }); n != 0 {
		t.Errorf("readNow: %v allocations", n)
	}
}
