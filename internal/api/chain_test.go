package api_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/connlimit"
	"github.com/findash/findash/internal/gateway"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/testenv"
)

// TestPublicChainTracking wires the public listener as cmd/findash's
// serve.go does (the API's tracking innermost, then connlimit, the
// gateway's front, net/http) with a real hub. WebSockets upgraded by the
// front and by net/http (an odd head), left silent until the hub closes
// them, must not count as header or idle timeouts; a kept-alive
// connection idling out counts once as idle; every connection's per-IP
// place is released. The tracking finds its connection under the others
// through their NetConn: without connlimit's, each silent WebSocket
// counted as a header timeout and idle timeouts as header ones, and every
// other test of api, connlimit and gateway passed.
func TestPublicChainTracking(t *testing.T) {
	hub := gateway.New(market.NewState(), gateway.Config{PingInterval: 150 * time.Millisecond}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go hub.Run(ctx)
	f := newBareFixture(t, func(c *api.Config, d *api.Deps) {
		c.HeaderTimeout = 300 * time.Millisecond
		c.IdleTimeout = 600 * time.Millisecond
		d.WebSocket = hub
	})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := connlimit.New(f.api.Listener(raw), connlimit.Config{MaxPerIP: 50}, f.reg)
	srv := &http.Server{Handler: connlimit.Restrict(f.api.Handler(), "/livez", "/readyz"), ConnContext: cl.ConnContext}
	f.api.ConfigureServer(srv)
	front := gateway.NewFront(cl, srv, gateway.FrontConfig{}, nil, f.reg)
	go srv.Serve(front)
	defer srv.Close()
	addr := raw.Addr().String()
	upgrade := func(extra string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+extra+"\r\n")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade (%q): %v %v", extra, resp, err)
		}
		return c
	}
	ws1 := upgrade("")                       // served by the front
	ws2 := upgrade("Pragma: no-cache\r\n")   // a head the front hands to net/http
	for _, c := range []net.Conn{ws1, ws2} { // silent: the hub closes each at 2 x PingInterval
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("the server did not end the silent WebSocket: %v", err)
		}
	}
	// A kept-alive HTTP connection idling past IdleTimeout: idle 1.
	hc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	_, _ = io.WriteString(hc, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = hc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.Copy(io.Discard, hc)
	testenv.Eventually(t, 5*time.Second, func() bool {
		return f.metric(t, "findash_http_connections") == 0
	}, "every connection's place released")
	if h, i := f.metric(t, "findash_http_timeouts_total", "phase=header"), f.metric(t, "findash_http_timeouts_total", "phase=idle"); h != 0 || i != 1 {
		t.Errorf("timeouts header %v idle %v, want 0 and 1", h, i)
	}
	if fr, nh := f.metric(t, "findash_ws_front_requests_total", "path=front"), f.metric(t, "findash_ws_front_requests_total", "path=net_http"); fr != 1 || nh != 2 {
		t.Errorf("front served %v and handed %v connections to net/http, want 1 and 2", fr, nh)
	}
}
