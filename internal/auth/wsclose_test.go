package auth_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/gateway"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/redis"
	"github.com/findash/findash/internal/testenv"
)

// wsHub serves a gateway authenticating with s (a real hub on a real
// server) that checks its connections' sessions every 10 ms, on clock now.
func wsHub(t *testing.T, s *auth.Service, now func() time.Time) string {
	t.Helper()
	h := gateway.New(market.NewState(), gateway.Config{Auth: s, Now: now, SessionCheckInterval: 10 * time.Millisecond}, nil, prometheus.NewRegistry())
	srv := httptest.NewServer(h)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.Run(ctx) })
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		if err := h.Drain(dctx); err != nil {
			t.Errorf("Drain: %v", err)
		}
		srv.Close()
		cancel()
		wg.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// dialWS opens a WebSocket with ?token=tok.
func dialWS(t *testing.T, url, tok string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url+"?token="+tok, nil)
	if err != nil {
		t.Fatalf("dial with %.8s…: %v (%v)", tok, err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantClosed reads c until its close frame: it must be 1008 reason.
func wantClosed(t *testing.T, c *websocket.Conn, reason, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != websocket.ClosePolicyViolation || ce.Text != reason {
				t.Errorf("%s: closed %d %q, want 1008 %q", what, ce.Code, ce.Text, reason)
			}
			return
		}
		if err != nil {
			t.Errorf("%s: %v, want close 1008 %q", what, err, reason)
			return
		}
	}
}

// wantOpen: c still answers a ping.
func wantOpen(t *testing.T, c *websocket.Conn, what string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"op":"ping","id":1}`)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := c.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `"pong"`) {
		t.Errorf("%s: got %s, %v; want a pong", what, msg, err)
	}
}

// sessionAndWSToken logs userID in and makes a WS token of that session.
func sessionAndWSToken(t *testing.T, s *auth.Service, userID int64) (session, ws string) {
	t.Helper()
	session, _, err := s.CreateSession(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(t.Context(), session)
	if err != nil {
		t.Fatal(err)
	}
	ws, _ = s.WSToken(p)
	return session, ws
}

// TestWebSocketClosedWhenSessionExpires: a WebSocket opened with a session,
// or with a WS token made from it, is closed with 1008 "session expired"
// when that session expires. Before decision 0083 nothing was announced at
// expiry and a WS token named no session: both stayed open, authenticated
// as the user, for their lives. Stage 1: SQLite, an injected clock.
func TestWebSocketClosedWhenSessionExpires(t *testing.T) {
	s, clk, ann, url := annOnHub(t)
	session, ws := sessionAndWSToken(t, s, ann.ID)
	bySession, byWSToken := dialWS(t, url, session), dialWS(t, url, ws)
	clk.Add(auth.DefaultSessionTTL - time.Second)
	later, _ := sessionAndWSToken(t, s, ann.ID) // another device, logged in a month later
	byLater := dialWS(t, url, later)
	wantOpen(t, bySession, "a day before expiry")

	clk.Add(time.Second)
	wantClosed(t, bySession, "session expired", "opened with the session")
	wantClosed(t, byWSToken, "session expired", "opened with a WS token of the session")
	wantOpen(t, byLater, "another session of the user")
}

// TestWebSocketClosedWhenSessionEndsUnannounced: an instance that is not
// told a session ended (cut from the bus when the announcement was sent;
// here no bus at all) closes the connections opened with it, and only
// those, at its next session check, with 1008 "session revoked". Before
// decision 0083 they stayed open for their lives.
func TestWebSocketClosedWhenSessionEndsUnannounced(t *testing.T) {
	s, _, ann, url := annOnHub(t)
	stolen, stolenWS := sessionAndWSToken(t, s, ann.ID)
	own, _ := sessionAndWSToken(t, s, ann.ID)
	bySession, byWSToken, byOwn := dialWS(t, url, stolen), dialWS(t, url, stolenWS), dialWS(t, url, own)
	wantOpen(t, bySession, "before the revocation")

	if err := s.RevokeSession(t.Context(), stolen); err != nil { // no bus: the hub is not told
		t.Fatal(err)
	}
	wantClosed(t, bySession, "session revoked", "opened with the revoked session")
	wantClosed(t, byWSToken, "session revoked", "opened with a WS token of the revoked session")
	wantOpen(t, byOwn, "another session of the user")
}

// TestRedisSessionEndsUnannouncedWebSockets: with sessions in Redis (stage
// 2+), the session check finds a revoked session gone and closes its
// connections, and only those, though the hub was not told.
func TestRedisSessionEndsUnannouncedWebSockets(t *testing.T) {
	r := testenv.Redis(t)
	rc, err := redis.Open(t.Context(), r.URL, redis.Config{Prefix: r.Prefix}, nil, nil)
	if err != nil {
		t.Fatalf("redis.Open: %v", err)
	}
	t.Cleanup(func() { rc.Close() })
	s := auth.NewService(openDB(t), argon2id.New(fastParams, 2), auth.Config{Sessions: auth.KVSessions(rc, nil)}, nil)
	ann, err := s.CreateUser(t.Context(), "ann@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	url := wsHub(t, s, time.Now)
	stolen, stolenWS := sessionAndWSToken(t, s, ann.ID)
	own, _ := sessionAndWSToken(t, s, ann.ID)
	bySession, byWSToken, byOwn := dialWS(t, url, stolen), dialWS(t, url, stolenWS), dialWS(t, url, own)
	wantOpen(t, bySession, "before the revocation")

	if err := s.RevokeSession(t.Context(), stolen); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, bySession, "session revoked", "opened with the revoked session")
	wantClosed(t, byWSToken, "session revoked", "opened with a WS token of the revoked session")
	wantOpen(t, byOwn, "another session of the user")
}

// annOnHub is a service on SQLite whose clock runs an hour ahead of the
// wall clock (socket deadlines come from it: never behind), a user ann, and
// the URL of a hub authenticating with the service.
func annOnHub(t *testing.T) (*auth.Service, *clock, auth.User, string) {
	t.Helper()
	s, _, clk := newService(t)
	clk.Add(time.Since(clk.Now()) + time.Hour)
	ann, err := s.CreateUser(t.Context(), "ann@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, ann, wsHub(t, s, clk.Now)
}
