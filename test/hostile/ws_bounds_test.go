package hostile_test

// WebSocket resources (issue 13 items 2, 6, 7, 8 and 15): what clients that
// never read, read slowly or open connections without end cost the server.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsURL is the /ws endpoint of s's public listener.
func (s *server) wsURL() string { return "ws" + strings.TrimPrefix(s.URL, "http") + "/ws" }

// feedSymbols posts perSymbol ticks of each symbol (the whole round of
// symbols repeated, in POSTs of at most 5,000 lines) and waits until the
// live state shows the last one. The prices of a round are its number, so
// the last quote tells when the live feed has caught up.
func feedSymbols(t *testing.T, s *server, symbols []string, perSymbol int) {
	t.Helper()
	var b strings.Builder
	lines := 0
	now := time.Now().UnixMilli()
	post := func() {
		if lines == 0 {
			return
		}
		if code, body := s.PostTicks(b.String()); code != 202 {
			t.Fatalf("POST ticks = %d %s", code, body)
		}
		b.Reset()
		lines = 0
	}
	for round := range perSymbol {
		for _, sym := range symbols {
			fmt.Fprintf(&b, `{"symbol":%q,"price":%d.5,"size":1,"ts":%d}`+"\n", sym, 100+round, now)
			if lines++; lines == 5000 {
				post()
			}
		}
	}
	post()
	last, want := symbols[len(symbols)-1], fmt.Sprintf(`"price":%d.5`, 100+perSymbol-1)
	waitFor(t, 30*time.Second, "the live state to show the last tick of "+last, func() bool {
		code, body := s.Get("/api/v1/quotes?symbols=" + last)
		return code == 200 && strings.Contains(body, want)
	})
}

// waitFor polls cond (another process's state) until it holds or the
// deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond) // polling another process
	}
}

// subscribeMsg subscribes to ticks of every symbol, resuming after since
// when since >= 0.
func subscribeMsg(symbols []string, since int64) []byte {
	m := map[string]any{"op": "subscribe", "id": 1}
	chans := make([]string, len(symbols))
	resume := map[string]int64{}
	for i, s := range symbols {
		chans[i] = "ticks:" + s
		resume[chans[i]] = since
	}
	m["channels"] = chans
	if since >= 0 {
		m["since"] = resume
	}
	b, _ := json.Marshal(m)
	return b
}

// dialWS opens a WebSocket to s whose socket receive buffer is rcvbuf bytes
// (0: the system's).
func dialWS(t *testing.T, s *server, rcvbuf int) (*websocket.Conn, error) {
	d := websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   4 << 10,
		NetDial: func(network, addr string) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, 10*time.Second)
			if tc, ok := c.(*net.TCPConn); ok && rcvbuf > 0 {
				_ = tc.SetReadBuffer(rcvbuf)
			}
			return c, err
		},
	}
	c, resp, err := d.Dial(s.wsURL(), nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// wsMsg is one server message (a frame holds several, split on '\n').
type wsMsg struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
	Seq     uint64 `json:"seq"`
	From    uint64 `json:"from"`
	To      uint64 `json:"to"`
	Code    string `json:"code"`
}

func splitFrame(t *testing.T, b []byte) []wsMsg {
	t.Helper()
	var out []wsMsg
	for _, line := range strings.Split(string(b), "\n") {
		var m wsMsg
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("server sent bad JSON %.200q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestWSNeverReadingClientsMemory is item 2: 100 anonymous clients each
// subscribe to 100 ticks channels with since (a resume of everything held)
// and never read. Before the fix each copied the replay (~13 MB here,
// ~105 MB with full rings) and its queue was bounded in spans, not bytes.
// The baseline is taken once the persister has written the ticks.
// The server's RSS must grow by at most 64 MiB in total, and a client that
// reads still gets its ticks at once.
func TestWSNeverReadingClientsMemory(t *testing.T) {
	const clients, channels = 100, 100
	const maxGrowth = 64 << 20
	// Ticks held per symbol: 1,000 by default (quick); the full ring,
	// 10,000, with FINDASH_TEST_WS_RING_TICKS=10000.
	perSymbol := 1000
	if v, err := strconv.Atoi(os.Getenv("FINDASH_TEST_WS_RING_TICKS")); err == nil && v > 0 {
		perSymbol = v
	}
	s := startServer(t, options{user: "feed@example.com"})
	symbols := make([]string, channels)
	for i := range symbols {
		symbols[i] = fmt.Sprintf("MEM%03d", i)
	}
	feedSymbols(t, s, symbols, perSymbol)
	// The persister still writing the ticks would grow the RSS too: the
	// baseline is taken once it has them all.
	waitFor(t, 120*time.Second, "the persister to catch up", func() bool { return s.Metric("findash_persist_lag") == 0 })
	base := s.RSS()
	t.Logf("RSS after %d ticks in the replay rings: %.1f MiB", channels*perSymbol, float64(base)/(1<<20))

	sub := subscribeMsg(symbols, 0)
	peak := base
	for i := range clients {
		c, err := dialWS(t, s, 0)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if err := c.WriteMessage(websocket.TextMessage, sub); err != nil {
			t.Fatalf("client %d subscribe: %v", i, err)
		}
		// Fail fast: the unfixed server grows by ~13 MB per client here.
		if rss := s.RSS(); rss-base > maxGrowth {
			t.Fatalf("after %d never-reading clients RSS grew by %.1f MiB (> 64 MiB)", i+1, float64(rss-base)/(1<<20))
		} else {
			peak = max(peak, rss)
		}
	}
	waitFor(t, 20*time.Second, "100 connections", func() bool { return s.Metric("findash_ws_connections") >= clients })
	// The server now queues each client's replay; sample its RSS while it does.
	for range 40 {
		peak = max(peak, s.RSS())
		time.Sleep(100 * time.Millisecond) // sampling another process
	}

	if os.Getenv("FINDASH_TEST_WS_PROFILE") != "" { // heap and goroutine profiles at the peak, in /tmp
		for _, p := range []string{"heap", "goroutine"} {
			resp, err := client.Get(s.Admin + "/debug/pprof/" + p)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				os.WriteFile("/tmp/wsb_"+p+".pprof", b, 0o644)
			}
		}
	}
	// A client that reads is not hurt by them.
	reader, err := dialWS(t, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := reader.WriteMessage(websocket.TextMessage, subscribeMsg(symbols[:1], -1)); err != nil {
		t.Fatal(err)
	}
	_ = reader.SetReadDeadline(time.Now().Add(10 * time.Second))
	for acked := false; !acked; {
		_, b, err := reader.ReadMessage()
		if err != nil {
			t.Fatalf("reading client: %v", err)
		}
		for _, m := range splitFrame(t, b) {
			acked = acked || m.Type == "snapshot"
		}
	}
	t0 := time.Now()
	if code, body := s.PostTicks(fmt.Sprintf(`{"symbol":%q,"price":1.5,"size":1,"ts":%d}`+"\n", symbols[0], time.Now().UnixMilli())); code != 202 {
		t.Fatalf("POST = %d %s", code, body)
	}
	for got := false; !got; {
		_, b, err := reader.ReadMessage()
		if err != nil {
			t.Fatalf("reading client: %v", err)
		}
		for _, m := range splitFrame(t, b) {
			got = got || m.Type == "tick"
		}
	}
	t.Logf("a reading client got a live tick %v after the POST", time.Since(t0).Round(time.Millisecond))
	peak = max(peak, s.RSS())
	growth := peak - base
	t.Logf("%d never-reading clients on %d channels with since: RSS %.1f → %.1f MiB, growth %.1f MiB (%.0f KiB per client)",
		clients, channels, float64(base)/(1<<20), float64(peak)/(1<<20), float64(growth)/(1<<20), float64(growth)/clients/1024)
	if growth > maxGrowth {
		t.Fatalf("RSS grew by %.1f MiB, want at most 64 MiB", float64(growth)/(1<<20))
	}
}

// TestWSSlowConsumerGapThenClose is item 7: a client that reads, but more
// slowly than its channel runs, is told which ticks it lost (gap, per
// channel) and, still behind, closed with 1008 — not cut by the write
// timeout without a word. Before the fix it got gaps and was never closed.
func TestWSSlowConsumerGapThenClose(t *testing.T) {
	s := startServer(t, options{user: "feed@example.com", env: []string{"FINDASH_WS_MAX_LAG=2s"}})
	syms := []string{"SLOW-A", "SLOW-B"}
	feedSymbols(t, s, syms, 1)
	c, err := dialWS(t, s, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, subscribeMsg(syms, -1)); err != nil {
		t.Fatal(err)
	}
	// Feed both channels far faster than the client reads (20,000 ticks/s
	// each, ~5 MB/s) until the test ends.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var posts atomic.Int64
	defer func() { close(stop); wg.Wait() }()
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var b strings.Builder
			now := time.Now().UnixMilli()
			for j := range 2000 {
				fmt.Fprintf(&b, `{"symbol":%q,"price":%d.25,"size":1,"ts":%d}`+"\n", syms[j%2], 10+i%50, now)
			}
			req, _ := http.NewRequest("POST", s.URL+"/api/v1/ticks", strings.NewReader(b.String()))
			req.Header.Set("Authorization", "Bearer "+s.APIKey)
			req.Header.Set("Content-Type", "application/x-ndjson")
			if resp, err := client.Do(req); err == nil {
				if resp.StatusCode == 202 {
					posts.Add(1)
				}
				resp.Body.Close()
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond): // the feed's pace
			}
		}
	})
	// Read one frame every 100 ms: ~640 KB/s at most.
	gaps := map[string]bool{}
	deadline := time.Now().Add(40 * time.Second)
	for {
		_ = c.SetReadDeadline(deadline)
		_, b, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("connection ended with %v after gaps on %v, want a close frame 1008 (lagged %v, log reads %v, slow consumers %v, ticks in %d POSTs)", err, gaps,
					s.Metric("findash_ws_lagged_total"), s.Metric("findash_ws_log_reads_total"), s.Metric("findash_ws_slow_consumers_total"), posts.Load())
			}
			if ce.Code != websocket.ClosePolicyViolation {
				t.Fatalf("close %d %q, want 1008", ce.Code, ce.Text)
			}
			t.Logf("closed with %d %q after gaps on %v", ce.Code, ce.Text, gaps)
			break
		}
		for _, m := range splitFrame(t, b) {
			if m.Type == "gap" {
				if m.From == 0 || m.To < m.From {
					t.Fatalf("bad gap %+v", m)
				}
				gaps[m.Channel] = true
			}
		}
		time.Sleep(100 * time.Millisecond) // the slow client's pace
	}
	for _, sym := range syms {
		if !gaps["ticks:"+sym] {
			t.Errorf("no gap for ticks:%s before the close (gaps on %v)", sym, gaps)
		}
	}
}

// TestFDExhaustionHealthAnswers is item 8: connections are opened until the
// server's file descriptors would run out. Before the fix accept failed
// with EMFILE and /readyz and /metrics hung for ~50 s; now the public
// listener stops at its cap with descriptors held back, and /readyz (on the
// public listener) and /metrics (admin) answer within 100 ms.
func TestFDExhaustionHealthAnswers(t *testing.T) {
	const nofile = 1024
	s := startServer(t, options{nofile: nofile, env: []string{"FINDASH_MAX_CONNS_PER_IP=0", "FINDASH_WS_MAX_CONNS_PER_IP=0"}})
	// Open WebSockets until five in a row are refused (or time out: a
	// server out of descriptors leaves them in the listen backlog).
	d := websocket.Dialer{HandshakeTimeout: time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	opened, refused := 0, 0
	for streak := 0; streak < 5 && opened < 4*nofile; {
		c, resp, err := d.Dial(s.wsURL(), nil)
		if err != nil {
			refused++
			streak++
			if resp != nil {
				t.Logf("refused: %v (HTTP %d)", err, resp.StatusCode)
			} else {
				t.Logf("refused: %v", err)
			}
			continue
		}
		t.Cleanup(func() { c.Close() })
		streak = 0
		opened++
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, u := range []string{s.URL + "/readyz", s.Admin + "/metrics"} {
		var worst time.Duration
		for range 5 {
			t0 := time.Now()
			resp, err := hc.Get(u)
			d := time.Since(t0)
			if err != nil {
				t.Fatalf("GET %s at the connection cap: %v after %v", u, err, d)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s at the connection cap = %d, want 200", u, resp.StatusCode)
			}
			worst = max(worst, d)
		}
		t.Logf("GET %s at the cap: slowest of 5 took %v", u, worst.Round(time.Microsecond))
		if worst > 100*time.Millisecond {
			t.Errorf("GET %s took %v at the connection cap, want < 100ms", u, worst)
		}
	}
}

// TestConnectionsPerIP is item 8's per-address cap: past it a client's
// WebSocket upgrade is answered 503 (the JSON error body) while /readyz from
// the same address still answers.
func TestConnectionsPerIP(t *testing.T) {
	const perIP = 20
	s := startServer(t, options{env: []string{fmt.Sprintf("FINDASH_MAX_CONNS_PER_IP=%d", perIP)}})
	client.CloseIdleConnections() // the readiness polls' (the server may still count one)
	opened := 0
	for ; opened <= perIP; opened++ {
		if _, err := dialWS(t, s, 0); err != nil {
			if !strings.Contains(err.Error(), "HTTP 503") {
				t.Fatalf("connection %d: %v, want HTTP 503", opened+1, err)
			}
			break
		}
	}
	if opened < perIP-1 || opened >= perIP+1 {
		t.Fatalf("%d connections opened from one address, want the cap (%d, one may be the readiness poll's)", opened, perIP)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(s.URL + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /readyz over the per-address cap: %v %v, want 200", resp, err)
	}
	resp.Body.Close()
	resp, err = hc.Get(s.URL + "/api/v1/symbols")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), `"code":"unavailable"`) {
		t.Fatalf("GET /api/v1/symbols over the per-address cap = %d %s, want 503 unavailable with Retry-After", resp.StatusCode, b)
	}
	if v := s.Metric("findash_http_connections_refused_total", `reason="per_ip"`); v < 2 {
		t.Errorf("findash_http_connections_refused_total{reason=per_ip} = %v, want >= 2", v)
	}
}

// TestResumeFromLogPastRing is item 15's last part: 30,000 ticks of one
// symbol (three times the replay ring) while a client is away; it resumes
// with since from the first and gets every one, in order, without a gap —
// the part the ring no longer holds read from the event log. Before, it got
// a gap for 20,000 ticks.
func TestResumeFromLogPastRing(t *testing.T) {
	s := startServer(t, options{user: "feed@example.com"})
	const sym, n = "RSM-LOG", 30_000
	feedSymbols(t, s, []string{sym}, 1)
	c, err := dialWS(t, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, subscribeMsg([]string{sym}, -1)); err != nil {
		t.Fatal(err)
	}
	var first uint64
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for first == 0 {
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			var q struct {
				Type string `json:"type"`
				Data struct {
					Seq uint64 `json:"seq"`
				} `json:"data"`
			}
			if json.Unmarshal([]byte(line), &q) == nil && q.Type == "snapshot" {
				first = q.Data.Seq
			}
		}
	}
	c.Close() // away
	feedSymbols(t, s, []string{sym}, n)
	c, err = dialWS(t, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, subscribeMsg([]string{sym}, int64(first))); err != nil {
		t.Fatal(err)
	}
	got, last := 0, first
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for got < n {
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d of %d ticks: %v", got, n, err)
		}
		for _, m := range splitFrame(t, b) {
			switch m.Type {
			case "gap":
				t.Fatalf("gap %d..%d after %d of %d ticks: the event log holds them", m.From, m.To, got, n)
			case "tick":
				if m.Seq <= last {
					t.Fatalf("tick %d after %d", m.Seq, last)
				}
				last = m.Seq
				got++
			}
		}
	}
	t.Logf("resumed %d ticks (the ring holds 10,000); %v ticks read from the log", got, s.Metric("findash_ws_log_ticks_total"))
}
