package api_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/report"
	"github.com/findash/findash/internal/testenv"
)

// newServedFixture serves the fixture's API on a server configured by
// ConfigureServer, as cmd/findash does.
func newServedFixture(t *testing.T, opts ...option) *fixture {
	t.Helper()
	f := newBareFixture(t, opts...)
	f.srv = httptest.NewUnstartedServer(f.api.Handler())
	f.srv.Listener = f.api.Listener(f.srv.Listener)
	f.api.ConfigureServer(f.srv.Config)
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// rawRequest opens a connection to f and sends head and body as is.
func rawRequest(t *testing.T, f *fixture, head, body string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head+body); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBodyDeadline: a body that stops arriving is answered 408 at the
// body deadline, and counted (issue 13 item 10).
func TestBodyDeadline(t *testing.T) {
	f := newServedFixture(t, withAccounts, func(c *api.Config, _ *api.Deps) { c.BodyTimeout = 300 * time.Millisecond })
	c := rawRequest(t, f, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", `{"email":`)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	if resp.StatusCode != 408 || !resp.Close {
		t.Errorf("stalled body = %d (close %v), want 408 and Connection: close", resp.StatusCode, resp.Close)
	}
	if v := f.metric(t, "findash_http_timeouts_total", "phase=body"); v != 1 {
		t.Errorf(`findash_http_timeouts_total{phase="body"} = %v, want 1`, v)
	}
}

// TestInFlightPerIP: one address may have MaxInFlightPerIP requests in
// flight; beyond them 429, health checks aside.
func TestInFlightPerIP(t *testing.T) {
	f := newServedFixture(t, withAccounts, func(c *api.Config, _ *api.Deps) {
		c.MaxInFlightPerIP = 2
		c.BodyTimeout = time.Minute
	})
	head := "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
	rawRequest(t, f, head, `{`)
	rawRequest(t, f, head, `{`)
	var resp *http.Response
	testenv.Eventually(t, 10*time.Second, func() bool {
		resp, _ = f.do(t, "GET", "/api/v1/symbols", nil)
		return resp.StatusCode == 429
	}, "a third request from the address with two bodies in flight: want 429")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if resp, _ := f.do(t, "GET", "/readyz", nil); resp.StatusCode != 200 {
		t.Errorf("GET /readyz with the address at its limit = %d, want 200", resp.StatusCode)
	}
	if v := f.metric(t, "findash_http_rate_limited_total", "class=inflight_ip"); v == 0 {
		t.Error(`findash_http_rate_limited_total{class="inflight_ip"} = 0`)
	}
}

// slowReports serves one report whose file arrives slowly: chunks of
// 64 KiB, one per tick of every.
type slowReports struct {
	api.ReportService
	size  int
	every time.Duration
}

func (s slowReports) Open(context.Context, int64, string, string) (io.ReadCloser, report.Report, error) {
	r := &slowReader{left: s.size}
	if s.every > 0 {
		r.tick = time.NewTicker(s.every)
	}
	return r, report.Report{ID: 1, Format: "csv", Size: int64(s.size)}, nil
}

type slowReader struct {
	left int
	tick *time.Ticker
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if r.tick != nil {
		<-r.tick.C // a slow object store
	}
	n := min(len(p), r.left, 64<<10)
	copy(p, bytes.Repeat([]byte{'x'}, n))
	r.left -= n
	return n, nil
}

func (r *slowReader) Close() error {
	if r.tick != nil {
		r.tick.Stop()
	}
	return nil
}

// TestLongDownload: a download that takes longer than the write deadline
// completes while it progresses (the deadline bounds a stall), and a
// client that stops reading is cut at the deadline.
func TestLongDownload(t *testing.T) {
	f := newServedFixture(t, func(c *api.Config, d *api.Deps) {
		c.WriteTimeout = 300 * time.Millisecond
		d.Reports = slowReports{size: 20 * 64 << 10, every: 50 * time.Millisecond} // ~1 s
	})
	start := time.Now()
	resp, body := f.do(t, "GET", "/api/v1/reports/1/download", nil)
	if resp.StatusCode != 200 || len(body) != 20*64<<10 {
		t.Fatalf("slow download = %d, %d bytes after %v; want 200 and %d bytes", resp.StatusCode, len(body), time.Since(start), 20*64<<10)
	}
	t.Logf("a %d KiB download took %v with a %v write deadline", len(body)>>10, time.Since(start).Round(time.Millisecond), 300*time.Millisecond)

	// A client that stops reading a fast, large download.
	f2 := newServedFixture(t, func(c *api.Config, d *api.Deps) {
		c.WriteTimeout = 300 * time.Millisecond
		d.Reports = slowReports{size: 1 << 30}
	})
	c := rawRequest(t, f2, "GET /api/v1/reports/1/download HTTP/1.1\r\nHost: x\r\n\r\n", "")
	_ = c // never read
	testenv.Eventually(t, 20*time.Second, func() bool {
		return f2.metric(t, "findash_http_timeouts_total", "phase=write") == 1
	}, `findash_http_timeouts_total{phase="write"} for a client that stopped reading`)
}

// TestHeaderAndIdleDeadlines: a request head that stops arriving, and a
// kept-alive connection left idle, are closed at their deadlines and
// counted by phase; a WebSocket-style hijacked connection is not.
func TestHeaderAndIdleDeadlines(t *testing.T) {
	f := newServedFixture(t, func(c *api.Config, _ *api.Deps) {
		c.HeaderTimeout = 200 * time.Millisecond
		c.IdleTimeout = 400 * time.Millisecond
	})
	wantHeaderAndIdleTimeouts(t, f)
}

// TestDeadlinesThroughWrappers: the header and idle deadlines are counted
// for a connection that other listeners wrap around the tracking (as
// connlimit and the gateway's front do), found under their wrappers by
// NetConn, also when a wrapper reports another remote address (the
// tracking was keyed by the address the outermost wrapper reported).
func TestDeadlinesThroughWrappers(t *testing.T) {
	f := newBareFixture(t, func(c *api.Config, _ *api.Deps) {
		c.HeaderTimeout = 200 * time.Millisecond
		c.IdleTimeout = 400 * time.Millisecond
	})
	f.srv = httptest.NewUnstartedServer(f.api.Handler())
	f.srv.Listener = &wrappingListener{Listener: f.api.Listener(f.srv.Listener)}
	f.api.ConfigureServer(f.srv.Config)
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	wantHeaderAndIdleTimeouts(t, f)
}

// wantHeaderAndIdleTimeouts sends f a request whose head never ends and
// one that leaves its connection idle, and wants both closed at their
// deadlines and counted, once each, by phase.
func wantHeaderAndIdleTimeouts(t *testing.T, f *fixture) {
	t.Helper()
	slow := rawRequest(t, f, "GET /livez HTTP/1.1\r\nHost: x\r\n", "")
	idle := rawRequest(t, f, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n", "")
	for _, c := range []net.Conn{slow, idle} {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("the server did not close the connection: %v", err)
		}
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		return f.metric(t, "findash_http_timeouts_total", "phase=header") == 1 &&
			f.metric(t, "findash_http_timeouts_total", "phase=idle") == 1
	}, "findash_http_timeouts_total: want header 1 and idle 1")
}

// wrappingListener wraps each connection in one that names it with
// NetConn and reports another remote address (as a PROXY-protocol
// listener would).
type wrappingListener struct{ net.Listener }

func (l *wrappingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &wrappedConn{Conn: c}, nil
}

type wrappedConn struct{ net.Conn }

func (c *wrappedConn) NetConn() net.Conn { return c.Conn }

func (c *wrappedConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}
}
