package gateway

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// BenchmarkConnect opens a WebSocket on loopback per iteration, subscribes
// it to one ticks channel and reads the ack and the snapshot, then closes
// it: with a subscribe message after the handshake (message) or in the
// handshake (at-connect, decision 0018); through net/http alone or a Front
// (decision 0058). The client is a few raw writes
// and reads, so what a connection costs the server (and the kernel) is
// most of the time; allocs/op are both ends'.
func BenchmarkConnect(b *testing.B) {
	for _, front := range []bool{false, true} {
		name := "net-http"
		if front {
			name = "front"
		}
		b.Run(name, func(b *testing.B) { benchmarkConnect(b, front) })
	}
}

// benchmarkConnect is BenchmarkConnect through net/http alone or a Front.
func benchmarkConnect(b *testing.B, front bool) {
	h := New(market.NewState(), Config{}, nil, prometheus.NewRegistry())
	srv := httptest.NewUnstartedServer(h)
	if front {
		srv.Listener = NewFront(srv.Listener, srv.Config, FrontConfig{}, nil, nil)
	}
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.Run(ctx); close(done) }()
	defer func() {
		_ = h.Drain(context.Background())
		srv.Close()
		cancel()
		<-done
	}()
	addr := strings.TrimPrefix(srv.URL, "http://")
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	sub := clientFrame(opText, true, []byte(`{"op":"subscribe","id":1,"channels":["ticks:BENCH"]}`))
	for _, atConnect := range []bool{false, true} {
		name, path := "message", "/ws"
		if atConnect {
			name, path = "at-connect", "/ws?subscribe=ticks:BENCH"
		}
		req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n"
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 4096)
			for b.Loop() {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.WriteString(nc, req); err != nil {
					b.Fatal(err)
				}
				br := bufio.NewReader(nc)
				resp, err := http.ReadResponse(br, nil)
				if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
					b.Fatalf("handshake: %v %v", resp, err)
				}
				if !atConnect {
					if _, err := nc.Write(sub); err != nil {
						b.Fatal(err)
					}
				}
				// The ack and the snapshot: one frame (or two).
				got := ""
				for !strings.Contains(got, `"snapshot"`) {
					n, err := br.Read(buf)
					if err != nil {
						b.Fatal(err)
					}
					got += string(buf[:n])
				}
				nc.Close()
			}
		})
	}
}
