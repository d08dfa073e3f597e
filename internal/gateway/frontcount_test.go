package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestFrontCountsHandOffs: findash_ws_front_requests_total{path="net_http"}
// counts the connections net/http is given — a pipelined request after a
// head the front served included — and not a kept-alive connection that
// ends with nothing read (it used to count every head the front did not
// serve, closes included, and miss the pipelined hand-off).
func TestFrontCountsHandOffs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent) // a refusal of the upgrade that keeps the connection
	})}
	f := NewFront(ln, srv, FrontConfig{IdleTimeout: 200 * time.Millisecond}, nil, reg)
	go func() { _ = srv.Serve(f) }()
	defer srv.Close()

	count := func(path string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "findash_ws_front_requests_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "path" && l.GetValue() == path {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}

	// A /ws head the front serves, then a pipelined request for net/http.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\n\r\nGET /other HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		resp.Body.Close()
	}
	if got := count("front"); got != 1 {
		t.Errorf("front = %v, want 1", got)
	}
	if got := count("net_http"); got != 1 {
		t.Errorf("net_http = %v after a pipelined request, want 1", got)
	}

	// A kept-alive /ws connection whose idle wait ends with nothing read
	// is closed, not handed over.
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := io.WriteString(d, "GET /ws HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	dr := bufio.NewReader(d)
	resp, err := http.ReadResponse(dr, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := dr.ReadByte(); err == nil { // the idle timeout closes it
		t.Fatal("the kept-alive connection sent more than its response")
	}
	if got := count("net_http"); got != 1 {
		t.Errorf("net_http = %v after an idle close, want 1 (nothing was handed over)", got)
	}
}
