package gateway

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFrontKeepAliveAcrossHeaderTimeout: POSTs on one kept-alive
// connection handed to net/http, each after an idle wait longer than the
// header timeout. The head's deadline the front holds net/http's first
// read deadline to (handedConn) must not reach the connection's later
// requests, and neither the front nor net/http may close the connection
// while it idles: a client's POST is never retried on a new connection,
// so such a close is a request with no answer. (In loaded CI rehearsals a
// POST of TestPostgresOutageIngest got none; the instance had stopped
// itself, decision 0068, but this path was a suspect.)
func TestFrontKeepAliveAcrossHeaderTimeout(t *testing.T) {
	const headerTimeout = 100 * time.Millisecond
	var mu sync.Mutex
	var states []http.ConnState
	idle := make(chan struct{}, 3)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	}))
	srv.Config.ReadHeaderTimeout = headerTimeout
	srv.Config.IdleTimeout = time.Minute
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		mu.Lock()
		states = append(states, s)
		mu.Unlock()
		if s == http.StateIdle {
			select {
			case idle <- struct{}{}:
			default: // a fourth: the comparison below says so
			}
		}
	}
	srv.Listener = NewFront(srv.Listener, srv.Config, FrontConfig{}, nil, nil)
	srv.Start()
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := strings.Repeat(`{"symbol":"A","price":1,"ts":1}`+"\n", 100)
	for i := range 3 {
		if i > 0 {
			// Idles past the header deadline: the condition under test,
			// not a wait for an event.
			time.Sleep(3 * headerTimeout)
		}
		var conn httptrace.GotConnInfo
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/ticks", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { conn = i },
		}))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %d (connection reused: %v): %v", i, conn.Reused, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(got) != fmt.Sprint(len(body)) {
			t.Fatalf("POST %d = %d %q, want 200 %q", i, resp.StatusCode, got, fmt.Sprint(len(body)))
		}
		if i > 0 && !conn.Reused {
			t.Errorf("POST %d went on a new connection: the kept-alive one was closed while it idled", i)
		}
	}
	// net/http sets StateIdle after the response is written: the client
	// may have read the last one before.
	for range 3 {
		select {
		case <-idle:
		case <-time.After(5 * time.Second):
			t.Fatal("the connection never went idle three times")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateActive, http.StateIdle, http.StateActive, http.StateIdle}
	if !slices.Equal(states, want) {
		t.Errorf("ConnState saw %v, want %v (one connection, never closed while the client kept it)", states, want)
	}
}
