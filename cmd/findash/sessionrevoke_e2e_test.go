package main

import (
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestSessionRevocationClosesWebSockets: a WebSocket keeps the user it
// was opened as for its life, so ending a session must close the
// connections it may have opened — with the session token itself or a
// WS token made from it. Before, a session revoked by its owner
// (DELETE /api/v1/sessions/{id}) kept receiving the owner's alerts on a
// WebSocket opened with it, for as long as that stayed open (decision
// 0082, part 4).
func TestSessionRevocationClosesWebSockets(t *testing.T) {
	in := start(t, testConfig(t, filepath.Join(t.TempDir(), "data")))
	const email, password = "alice@example.com", "correct horse battery"
	alice, thief := newAcctClient(t, in), newAcctClient(t, in)
	alice.must(201, viaNone, "POST", "/api/v1/auth/signup", map[string]string{"email": email, "password": password}, nil)
	for _, c := range []*acctClient{alice, thief} {
		var login struct {
			Token string `json:"token"`
		}
		c.must(200, viaNone, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &login)
		c.token = login.Token
	}
	bySession := dialAlerts(t, in, thief.token)
	var wsTok struct {
		Token string `json:"token"`
	}
	thief.must(200, viaBearer, "POST", "/api/v1/auth/ws-token", nil, &wsTok)
	byWSToken := dialAlerts(t, in, wsTok.Token)

	// Alice revokes the other session.
	var sessions struct {
		Data []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"data"`
	}
	alice.must(200, viaBearer, "GET", "/api/v1/sessions", nil, &sessions)
	for _, s := range sessions.Data {
		if !s.Current {
			alice.must(204, viaBearer, "DELETE", "/api/v1/sessions/"+s.ID, nil, nil)
		}
	}
	wantRevokedClose(t, bySession, "WebSocket opened with the revoked session")
	wantRevokedClose(t, byWSToken, "WebSocket opened with a WS token of the revoked session")
	thief.must(401, viaBearer, "GET", "/api/v1/me", nil, nil)
	wantRefused(t, in, thief.token, "the revoked session")
	// Nor with the WS token made from it, still within its minute: else
	// the closed connection is reopened at once, and stays open.
	wantRefused(t, in, wsTok.Token, "a WS token of the revoked session")

	// Logging out closes the WebSockets too.
	own := dialAlerts(t, in, alice.token)
	alice.must(204, viaBearer, "POST", "/api/v1/auth/logout", nil, nil)
	wantRevokedClose(t, own, "WebSocket of a session logged out")
}

// dialAlerts opens a WebSocket to in with ?token=token and subscribes it
// to the alerts channel.
func dialAlerts(t *testing.T, in *instance, token string) *wsClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws://"+in.addrs.HTTP+"/ws?token="+url.QueryEscape(token), http.Header{"Origin": {"http://" + in.addrs.HTTP}})
	if err != nil {
		t.Fatalf("dial /ws: %v (%v)", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	w := &wsClient{t: t, c: c, msgs: make(chan msg, 4096), err: make(chan error, 1)}
	w.readLoop()
	w.send(map[string]any{"op": "subscribe", "id": 1, "channels": []string{"alerts"}})
	w.next(ofType("ack"))
	return w
}

// wantRevokedClose waits up to 10 s for w to be closed with 1008
// "session revoked".
func wantRevokedClose(t *testing.T, w *wsClient, who string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-w.msgs:
			if ok {
				continue
			}
			var ce *websocket.CloseError
			if err := <-w.err; !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != "session revoked" {
				t.Fatalf("%s: connection ended with %v, want close 1008 \"session revoked\"", who, err)
			}
			return
		case <-timeout:
			t.Fatalf("%s: still open 10 s after the session was revoked", who)
		}
	}
}

// wantRefused dials in's /ws with token and wants 401.
func wantRefused(t *testing.T, in *instance, token, what string) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if c, resp, err := d.Dial("ws://"+in.addrs.HTTP+"/ws?token="+url.QueryEscape(token), nil); err == nil || resp == nil || resp.StatusCode != 401 {
		if c != nil {
			c.Close()
		}
		t.Fatalf("reconnect with %s: %v (%v), want 401", what, err, resp)
	}
}
