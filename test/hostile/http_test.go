package hostile_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// slowClients opens n connections to s that each send head, then trickle
// one byte of trickle every period until the server closes them. It
// returns a function that waits up to d for the server to have closed
// (or answered and closed) every one, and reports how many it did, and
// the answers' first status lines, counted.
func slowClients(t *testing.T, s *server, n int, head, trickle string, period time.Duration) (wait func(d time.Duration) (closed int, answers map[string]int)) {
	t.Helper()
	addr := strings.TrimPrefix(s.URL, "http://")
	var (
		mu      sync.Mutex
		conns   []net.Conn
		answers = map[string]int{}
		closed  atomic.Int64
		done    = make(chan struct{}, n)
	)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatalf("write head: %v", err)
		}
		conns = append(conns, c)
		go func() { // owned by the test: ends when the server closes c or the test closes it
			line, _ := bufio.NewReader(c).ReadString('\n')
			if line != "" {
				mu.Lock()
				answers[strings.TrimSpace(line)]++
				mu.Unlock()
			}
			io.Copy(io.Discard, c)
			closed.Add(1)
			done <- struct{}{}
		}()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the trickle: one byte per connection per period
		defer wg.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, c := range conns {
				c.SetWriteDeadline(time.Now().Add(time.Second))
				c.Write([]byte{trickle[i%len(trickle)]})
			}
		}
	}()
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return func(d time.Duration) (int, map[string]int) {
		deadline := time.After(d)
	wait:
		for closed.Load() < int64(n) {
			select {
			case <-done:
			case <-deadline:
				break wait
			}
		}
		close(stop)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return int(closed.Load()), answers
	}
}

// TestSlowBodies: 2,000 connections sending a tick body one byte at a time
// (item 10). Past the per-IP limit of requests in flight they are answered
// 429 at once; the others are cut at the body deadline; meanwhile another
// client is served.
func TestSlowBodies(t *testing.T) {
	// The listener's per-address connection cap (1,000) off: this measures the
	// deadlines and the per-IP limit of requests in flight.
	s := startServer(t, options{user: "slow@example.com", env: []string{"FINDASH_HTTP_BODY_TIMEOUT=2s", "FINDASH_MAX_CONNS_PER_IP=0"}})
	head := "POST /api/v1/ticks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.APIKey +
		"\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n"
	start := time.Now()
	wait := slowClients(t, s, 2000, head, `{"symbol":"SLOW-USD"`, 250*time.Millisecond)
	if code, _ := s.Get("/readyz"); code != 200 {
		t.Errorf("GET /readyz during the attack = %d", code)
	}
	if code, body := s.PostTicks(fmt.Sprintf(`{"symbol":"OK-USD","price":1,"size":1,"ts":%d}`+"\n", time.Now().UnixMilli())); code != 202 && code != 429 {
		t.Errorf("POST /ticks during the attack = %d %s", code, body)
	}
	closed, answers := wait(8 * time.Second)
	t.Logf("%d of 2000 slow bodies closed within %v; answers %v", closed, time.Since(start).Round(100*time.Millisecond), answers)
	if closed < 2000 {
		t.Fatalf("%d of 2000 connections sending a body a byte at a time still held after 8 s (body deadline 2 s)", 2000-closed)
	}
	if v := s.Metric("findash_http_timeouts_total", `phase="body"`); v == 0 {
		t.Errorf(`findash_http_timeouts_total{phase="body"} = 0`)
	}
	if v := s.Metric("findash_http_rate_limited_total", `class="inflight_ip"`); v == 0 {
		t.Errorf(`findash_http_rate_limited_total{class="inflight_ip"} = 0`)
	}
}

// TestSlowHeaders: 500 connections sending a request head a byte at a
// time are closed at the header deadline (item 10).
func TestSlowHeaders(t *testing.T) {
	s := startServer(t, options{env: []string{"FINDASH_HTTP_HEADER_TIMEOUT=2s"}})
	wait := slowClients(t, s, 500, "GET /api/v1/quotes HTTP/1.1\r\nHost: x\r\n", "X-Slow: aaaaaaaaaa\r\n", 250*time.Millisecond)
	if code, _ := s.Get("/readyz"); code != 200 {
		t.Errorf("GET /readyz during the attack = %d", code)
	}
	closed, _ := wait(6 * time.Second)
	if closed < 500 {
		t.Fatalf("%d of 500 connections sending headers a byte at a time still held after 6 s (header deadline 2 s)", 500-closed)
	}
	if v := s.Metric("findash_http_timeouts_total", `phase="header"`); v == 0 {
		t.Errorf(`findash_http_timeouts_total{phase="header"} = 0`)
	}
}

// TestWebSocketOutlivesDeadlines: the HTTP deadlines do not cut a
// WebSocket: with every deadline at 1 s, a subscribed client keeps
// receiving ticks for 4 s.
func TestWebSocketOutlivesDeadlines(t *testing.T) {
	s := startServer(t, options{user: "ws@example.com", env: []string{
		"FINDASH_HTTP_HEADER_TIMEOUT=1s", "FINDASH_HTTP_BODY_TIMEOUT=1s",
		"FINDASH_HTTP_WRITE_TIMEOUT=1s", "FINDASH_HTTP_IDLE_TIMEOUT=1s",
	}})
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","id":1,"channels":["ticks:WSD-USD"]}`))
	got := make(chan int, 100)
	go func() { // ends when the connection does
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				close(got)
				return
			}
			got <- strings.Count(string(msg), `"type":"tick"`)
		}
	}()
	tick := time.NewTicker(200 * time.Millisecond) // paces the feed
	defer tick.Stop()
	const n = 20
	for i := range n {
		<-tick.C
		if code, body := s.PostTicks(fmt.Sprintf(`{"symbol":"WSD-USD","price":%d,"size":1,"ts":%d}`+"\n", 10+i, time.Now().UnixMilli())); code != 202 {
			t.Fatalf("POST ticks = %d %s", code, body)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	ticks := 0
	for ticks < n {
		k, ok := <-got
		if !ok {
			t.Fatalf("the WebSocket closed after %d of %d ticks", ticks, n)
		}
		ticks += k
	}
}

// TestWebSocketIdleOneGoroutine: through the public listener's wrappers
// (connection caps, deadline tracking) an idle WebSocket costs one goroutine,
// its reader waiting on the socket. A wrapper that hid the socket (the
// deadline tracking did, issue 14) made every connection a blocked read
// goroutine more, and every write a goroutine of its own instead of a round
// of the writer pool.
func TestWebSocketIdleOneGoroutine(t *testing.T) {
	s := startServer(t, options{})
	const n = 200
	before := s.Metric("go_goroutines")
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	for i := range n {
		c, _, err := d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The ack says the server has read and handled a message: its
		// reader is back to waiting.
		c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"op":"subscribe","id":%d,"channels":["ticks:IDL-USD"]}`, i+1)))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, msg, err := c.ReadMessage(); err != nil || !strings.Contains(string(msg), `"ack"`) {
			t.Fatalf("connection %d: no ack: %q %v", i, msg, err)
		}
	}
	// A reader's per-message goroutine ends just after the ack is queued;
	// allow those to finish (bounded), then compare.
	var per float64
	for range 50 {
		per = (s.Metric("go_goroutines") - before) / n
		if per <= 1.2 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%.2f goroutines per idle WebSocket, want about 1 (the reader)", per)
}
