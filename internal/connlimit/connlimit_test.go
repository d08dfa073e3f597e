package connlimit

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// serve runs an HTTP server on a capped loopback listener: /readyz and
// /work answer 200 (/work only within the caps).
func serve(t *testing.T, cfg Config) (*Listener, string, *prometheus.Registry) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	l := New(ln, cfg, reg)
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/work", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "done") })
	srv := &http.Server{Handler: Restrict(mux, "/readyz"), ConnContext: l.ConnContext}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l, "http://" + ln.Addr().String(), reg
}

// hold opens n keep-alive connections that each made one request.
func hold(t *testing.T, url string, n int) []*http.Client {
	t.Helper()
	var cs []*http.Client
	for range n {
		c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}, Timeout: 5 * time.Second}
		if code, body := get(t, c, url+"/work"); code != 200 {
			t.Fatalf("GET /work within the cap = %d %s", code, body)
		}
		cs = append(cs, c)
	}
	t.Cleanup(func() {
		for _, c := range cs {
			c.CloseIdleConnections()
		}
	})
	return cs
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTotalCap(t *testing.T) {
	l, url, reg := serve(t, Config{Max: 3})
	if l.Max() != 3 {
		t.Fatalf("Max() = %d, want 3", l.Max())
	}
	held := hold(t, url, 3)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	// At the cap, health checks still answer; other requests get 503.
	if code, body := get(t, fresh, url+"/readyz"); code != 200 || body != "ok" {
		t.Errorf("GET /readyz at the cap = %d %q, want 200 ok", code, body)
	}
	code, body := get(t, fresh, url+"/work")
	if code != 503 || !strings.Contains(body, `"code":"unavailable"`) {
		t.Errorf("GET /work at the cap = %d %s, want 503 unavailable", code, body)
	}
	if got := testutil.ToFloat64(l.met.refused.WithLabelValues("total")); got != 2 {
		t.Errorf("refused{total} = %v, want 2", got)
	}
	if n, err := testutil.GatherAndCount(reg, "findash_http_connections"); err != nil || n != 1 {
		t.Errorf("findash_http_connections samples = %d, %v", n, err)
	}
	// A connection closed frees its place.
	held[0].CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(l.met.open) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("open = %v after a close, want 2", testutil.ToFloat64(l.met.open))
		}
		time.Sleep(time.Millisecond) // the server notices the close on its own goroutine
	}
	if code, _ := get(t, fresh, url+"/work"); code != 200 {
		t.Errorf("GET /work after a close = %d, want 200", code)
	}
}

func TestPerIPCap(t *testing.T) {
	l, url, _ := serve(t, Config{MaxPerIP: 2})
	hold(t, url, 2)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	if code, _ := get(t, fresh, url+"/work"); code != 503 {
		t.Errorf("GET /work over the per-IP cap = %d, want 503", code)
	}
	if code, _ := get(t, fresh, url+"/readyz"); code != 200 {
		t.Errorf("GET /readyz over the per-IP cap = %d, want 200", code)
	}
	if got := testutil.ToFloat64(l.met.refused.WithLabelValues("per_ip")); got != 2 {
		t.Errorf("refused{per_ip} = %v, want 2", got)
	}
}

// TestOverflowBounded: connections over the cap that say nothing are cut
// after OverflowTimeout, and past overflowMax of them the rest are closed
// at once.
func TestOverflowBounded(t *testing.T) {
	l, url, _ := serve(t, Config{Max: 1, OverflowTimeout: 200 * time.Millisecond})
	hold(t, url, 1)
	addr := strings.TrimPrefix(url, "http://")
	var silent []net.Conn
	for range overflowMax + 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
	}
	// The last ones are closed at once: a read sees EOF well before the
	// overflow deadline; every one is gone after it.
	for i, c := range silent {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		t0 := time.Now()
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("connection %d over the cap stays open", i)
		}
		if i >= overflowMax && time.Since(t0) > 150*time.Millisecond {
			t.Errorf("connection %d beyond the overflow connections lived %v", i, time.Since(t0))
		}
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		over := l.over
		l.mu.Unlock()
		if over == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("overflow connections = %d after they all ended, want 0", over)
		}
		time.Sleep(time.Millisecond) // the server closes them on its own goroutines
	}
}

func TestPrefixOf(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"192.0.2.7:443", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:443", "192.0.2.7/32"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := prefixOf(a).String(); got != tt.want {
			t.Errorf("prefixOf(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}

// wrapped is a connection wrapper that names the one it wraps (as
// crypto/tls.Conn and the gateway's Front do).
type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

// TestConnContextThroughWrapper: an overflow connection is still marked
// for Restrict when net/http is given a wrapper of it.
func TestConnContextThroughWrapper(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, Config{Max: 1}, prometheus.NewRegistry())
	defer l.Close()
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	within, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer within.Close()
	over, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	marked := func(c net.Conn) bool {
		v, _ := l.ConnContext(t.Context(), c).Value(ctxKey{}).(bool)
		return v
	}
	if marked(wrapped{within}) || !marked(wrapped{over}) || !marked(wrapped{wrapped{over}}) {
		t.Errorf("within the cap marked %v, over it %v, over it wrapped twice %v", marked(wrapped{within}), marked(wrapped{over}), marked(wrapped{wrapped{over}}))
	}
}
