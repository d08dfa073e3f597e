package gateway

import (
	"context"
	"errors"
	"testing"

	"github.com/gorilla/websocket"
)

// revokingAuth authenticates "secret" as user 7 and, before answering,
// has the session ended: the hub's CloseUser runs while the connection
// is between its authentication and its registration, as when a logout
// lands during a connect.
type revokingAuth struct{ hub *Hub }

func (a *revokingAuth) AuthenticateToken(_ context.Context, tok string) (int64, error) {
	if tok != "secret" {
		return 0, errors.New("unauthenticated")
	}
	a.hub.CloseUser(7)
	return 7, nil
}

// TestCloseUser: CloseUser closes every connection of the user with 1008
// "session revoked", and only those.
func TestCloseUser(t *testing.T) {
	e := newEnv(t, Config{Auth: tokens{"a": 7, "b": 7, "c": 8}})
	a, b, other, anon := e.dial("?token=a", nil), e.dial("?token=b", nil), e.dial("?token=c", nil), e.dial("", nil)
	if n := e.hub.CloseUser(7); n != 2 {
		t.Errorf("CloseUser(7) = %d, want 2", n)
	}
	for _, c := range []*client{a, b} {
		if code, _ := c.expectClose(); code != websocket.ClosePolicyViolation {
			t.Errorf("close code %d, want 1008", code)
		}
	}
	for _, c := range []*client{other, anon} {
		c.send(`{"op":"ping","id":1}`)
		if m := c.next(); m.Type != "pong" {
			t.Errorf("another user's connection got %s, want pong", m.raw)
		}
	}
}

// TestCloseUserDuringConnect: a session that ends while a connection
// opened with it is past its authentication but not yet registered must
// still close that connection. Before, CloseUser did not see it and it
// stayed open, authenticated as the user, for its life.
func TestCloseUserDuringConnect(t *testing.T) {
	a := &revokingAuth{}
	e := newEnv(t, Config{Auth: a})
	a.hub = e.hub
	c := e.dial("?token=secret", nil)
	code, _ := c.expectClose()
	if code != websocket.ClosePolicyViolation {
		t.Fatalf("close code %d, want 1008 session revoked", code)
	}
	// Another connection of the user, opened after the revocation, is
	// not closed by it.
	e2 := newEnv(t, Config{Auth: tokens{"secret": 7}})
	e2.hub.CloseUser(7)
	c2 := e2.dial("?token=secret", nil)
	c2.send(`{"op":"ping","id":1}`)
	if m := c2.next(); m.Type != "pong" {
		t.Fatalf("a connection opened after the revocation got %s, want pong", m.raw)
	}
}
