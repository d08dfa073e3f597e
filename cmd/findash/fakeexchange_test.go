package main

import (
	"net"
	"strings"
	"testing"
)

// TestFakeExchangeSecondListenFails: when the Coinbase address is taken,
// fake-exchange fails naming it and leaves the Binance address free (it
// used to return with the first venue's listener still served by
// goroutines nobody waited for, so the port stayed bound).
func TestFakeExchangeSecondListenFails(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// A free port for Binance: bound by the kernel, then released.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	binanceAddr := free.Addr().String()
	free.Close()

	_, _, err = findash(t, "fake-exchange", "--rate", "0", "--binance-addr", binanceAddr, "--coinbase-addr", taken.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "coinbase fake") {
		t.Fatalf("fake-exchange with a taken coinbase address = %v, want a coinbase listen error", err)
	}
	ln, err := net.Listen("tcp", binanceAddr)
	if err != nil {
		t.Fatalf("the binance address %s is still bound after the command failed: %v", binanceAddr, err)
	}
	ln.Close()
}
