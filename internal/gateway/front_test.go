package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// frontPair serves one hub's handler twice: through net/http alone and
// through a Front, each behind a middleware like the API's (a response
// header, a ConnContext value), so that a request can be sent to both.
type frontPair struct {
	plain, front string // addresses
	hub          *Hub
}

type ctxMark struct{}

func newFrontPair(t *testing.T, cfg Config) *frontPair {
	t.Helper()
	st := market.NewState()
	h := New(st, cfg, nil, prometheus.NewRegistry())
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(ctxMark{}) != "conn" {
			http.Error(w, "no ConnContext value", http.StatusInternalServerError)
			return
		}
		w.Header().Set("X-Mark", r.Method+" "+r.Host+" "+r.RemoteAddr[:strings.LastIndexByte(r.RemoteAddr, ':')])
		if r.URL.Path != "/ws" {
			http.Error(w, "not here", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	})
	connCtx := func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, ctxMark{}, "conn")
	}
	plain := httptest.NewUnstartedServer(handler)
	plain.Config.ConnContext = connCtx
	plain.Config.ReadHeaderTimeout = 5 * time.Second
	plain.Start()
	front := httptest.NewUnstartedServer(handler)
	front.Config.ConnContext = connCtx
	front.Config.ReadHeaderTimeout = 5 * time.Second
	front.Listener = NewFront(front.Listener, front.Config, FrontConfig{}, nil, prometheus.NewRegistry())
	front.Start()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.Run(ctx) })
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		if err := h.Drain(dctx); err != nil {
			t.Errorf("Drain: %v", err)
		}
		plain.Close()
		front.Close()
		cancel()
		wg.Wait()
	})
	return &frontPair{plain: plain.Listener.Addr().String(), front: front.Listener.Addr().String(), hub: h}
}

// exchange sends raw on a new connection to addr and returns what came
// back, normalised: each response's status, headers (but Date) and body;
// after a 101, the first frame; then "EOF" if the server closed.
func exchange(t *testing.T, addr, raw string) []string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, raw); err != nil {
		t.Fatal(err)
	}
	// Nothing more will come: a kept-alive connection then ends at once.
	_ = nc.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(nc)
	var out []string
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return append(out, endOf(err))
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Header.Del("Date")
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n", resp.Status)
		_ = resp.Header.Write(&b)
		b.Write(body)
		out = append(out, b.String())
		if resp.StatusCode == http.StatusSwitchingProtocols {
			for {
				op, payload, err := readServerFrame(br)
				if err != nil {
					return append(out, "frames end: "+endOf(err))
				}
				out = append(out, fmt.Sprintf("frame %d %s", op, payload))
			}
		}
	}
}

// endOf names how a read ended, without the addresses.
func endOf(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case strings.Contains(err.Error(), "connection reset"):
		return "reset"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return "error: " + err.Error()
}

// readServerFrame reads one unmasked frame.
func readServerFrame(br *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(br, x[:]); err != nil {
			return 0, nil, err
		}
		n = int(x[0])<<8 | int(x[1])
	case 127:
		return 0, nil, errors.New("frame too long for the test")
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return h[0] & 0x0f, p, err
}

// TestFrontAgreesWithNetHTTP: every request, served through a Front,
// gets the answer net/http alone gives it — upgrades, refusals (bad
// handshake, origin, token, subscription), requests Front hands over
// (other methods, paths, versions, unusual heads), keep-alive and
// pipelining, early data. A difference fails with both answers.
func TestFrontAgreesWithNetHTTP(t *testing.T) {
	p := newFrontPair(t, Config{AllowedOrigins: []string{"https://ok.example"}})
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	up := "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n"
	get := func(target, extra string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: example.com\r\n" + extra + "\r\n"
	}
	frame := string(clientFrame(opText, true, []byte(`{"op":"ping"}`)))
	cases := []struct{ name, raw string }{
		{"upgrade", get("/ws", up)},
		{"upgrade, subscribe", get("/ws?subscribe=ticks:BTC-USD", up)},
		{"upgrade, subscribe escaped", get("/ws?subscribe=ticks%3ABTC-USD", up)},
		{"upgrade, allowed origin", get("/ws", up+"Origin: https://ok.example\r\n")},
		{"upgrade, own origin", get("/ws", up+"Origin: http://example.com\r\n")},
		{"upgrade, mixed case and spaces", "GET /ws HTTP/1.1\r\nhost:example.com\r\nconnection:  keep-alive, Upgrade \r\nUPGRADE: WebSocket\r\nsec-websocket-version: 13\r\nsec-websocket-key:" + key + "\r\n\r\n"},
		{"upgrade, cookie", get("/ws", up+"Cookie: findash_session=x\r\n")},
		{"origin refused", get("/ws", up+"Origin: https://evil.example\r\n")},
		{"token without auth", get("/ws?token=abc", up)},
		{"bad subscribe", get("/ws?subscribe=nope", up)},
		{"too many channels", get("/ws?subscribe="+strings.Repeat("ticks:A,", 300)+"ticks:B", up)},
		{"alerts anonymous", get("/ws?subscribe=alerts", up)},
		{"no key", get("/ws", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n")},
		{"short key", get("/ws", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAA\r\n")},
		{"version 8", get("/ws", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: "+key+"\r\n")},
		{"no upgrade headers", get("/ws", "")},
		{"refused, then kept alive", get("/ws", "") + get("/ws", up)},
		{"refused, connection close", get("/ws", "Connection: close\r\n") + get("/ws", up)},
		{"pipelined, other path", get("/ws", "") + get("/other", "")},
		{"early data", get("/ws", up) + frame},
		{"POST", "POST /ws HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n" + up + "\r\n"},
		{"HEAD", "HEAD /ws HTTP/1.1\r\nHost: example.com\r\n" + up + "\r\n"},
		{"HTTP/1.0", "GET /ws HTTP/1.0\r\nHost: example.com\r\n" + up + "\r\n"},
		{"other path", get("/wsx", up)},
		{"trailing slash", get("/ws/", up)},
		{"escaped path", get("/w%73", up)},
		{"absolute form", get("http://example.com/ws", up)},
		{"no host", "GET /ws HTTP/1.1\r\n" + up + "\r\n"},
		{"two hosts", get("/ws", up+"Host: other.example\r\n")},
		{"bad host", get("/ws", up+"Host: a b\r\n")},
		{"folded header", get("/ws", up+"X-A: a\r\n b\r\n")},
		{"space before colon", get("/ws", up+"X-A : a\r\n")},
		{"bare LF", "GET /ws HTTP/1.1\nHost: example.com\n" + strings.ReplaceAll(up, "\r\n", "\n") + "\n"},
		{"pragma", get("/ws", up+"Pragma: no-cache\r\n")},
		{"content length", get("/ws", up+"Content-Length: 2\r\n") + "ab"},
		{"chunked", get("/ws", up+"Transfer-Encoding: chunked\r\n") + "0\r\n\r\n"},
		{"expect", get("/ws", up+"Expect: 100-continue\r\n")},
		{"non-ASCII value", get("/ws", up+"X-A: caf\xc3\xa9\r\n")},
		{"control byte", get("/ws", up+"X-A: a\x01b\r\n")},
		{"bad escape in query", get("/ws?subscribe=%zz", up)},
		{"many headers", get("/ws", up+strings.Repeat("X-A: a\r\n", 40))},
		{"long head", get("/ws", up+"X-A: "+strings.Repeat("a", 9000)+"\r\n")},
		{"garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"},
		{"half a head, then close", "GET /ws HTTP/1.1\r\nHost: exa"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := exchange(t, p.plain, tc.raw)
			got := exchange(t, p.front, tc.raw)
			if !slices.Equal(got, want) {
				t.Errorf("through the front:\n%q\nnet/http alone:\n%q", got, want)
			}
		})
	}
}

// TestFrontServesUpgrades: a GET /ws upgrade is served by the front (not
// handed to net/http), and the socket the Hub writes to is the raw one.
func TestFrontServesUpgrades(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(market.NewState(), Config{}, nil, prometheus.NewRegistry())
	srv := httptest.NewUnstartedServer(h)
	f := NewFront(srv.Listener, srv.Config, FrontConfig{}, nil, reg)
	srv.Listener = f
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.Run(ctx) })
	defer func() {
		_ = h.Drain(context.Background())
		srv.Close()
		cancel()
		wg.Wait()
	}()
	resp := rawHandshake(t, "ws://"+srv.Listener.Addr().String()+"/ws?subscribe=ticks:X", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	mf, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, m := range mf {
		for _, s := range m.GetMetric() {
			fmt.Fprintf(&b, "%s %v %v\n", m.GetName(), s.GetLabel(), s.GetCounter().GetValue())
		}
	}
	if !strings.Contains(b.String(), `value:"front"] 1`) || !strings.Contains(b.String(), `value:"net_http"] 0`) {
		t.Errorf("metrics:\n%s", b.String())
	}
}

// TestFrontConnState: the server's ConnState hook sees a connection the
// front serves as net/http would report it: active, then hijacked (an
// upgrade) or closed (a refusal with Connection: close).
func TestFrontConnState(t *testing.T) {
	h := New(market.NewState(), Config{}, nil, prometheus.NewRegistry())
	srv := httptest.NewUnstartedServer(h)
	var mu sync.Mutex
	var states []http.ConnState
	closed := make(chan struct{}, 1)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		mu.Lock()
		states = append(states, s)
		mu.Unlock()
		if s == http.StateClosed {
			select {
			case closed <- struct{}{}:
			default:
			}
		}
	}
	srv.Listener = NewFront(srv.Listener, srv.Config, FrontConfig{}, nil, nil)
	srv.Start()
	defer srv.Close()
	got := exchange(t, srv.Listener.Addr().String(), "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if len(got) != 2 || !strings.HasPrefix(got[0], "400 ") || got[1] != "EOF" {
		t.Fatalf("answer %q", got)
	}
	// The front closes the socket before it calls the hook (as net/http
	// does): the client's EOF can come first, so wait for the hook.
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("no StateClosed within 5 s")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(states, []http.ConnState{http.StateActive, http.StateClosed}) {
		t.Errorf("ConnState saw %v", states)
	}
}
