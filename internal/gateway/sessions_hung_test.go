package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// hungStore is a SessionAuthenticator whose LiveSessions waits until its
// context ends, as a store behind a dead link does.
type hungStore struct {
	sessions map[string]hungSession
	calls    chan []string
}

type hungSession struct {
	uid     int64
	session string
	expires time.Time
}

func (a *hungStore) AuthenticateToken(ctx context.Context, tok string) (int64, error) {
	u, _, _, err := a.AuthenticateSession(ctx, tok)
	return u, err
}

func (a *hungStore) AuthenticateSession(_ context.Context, tok string) (int64, string, time.Time, error) {
	s, ok := a.sessions[tok]
	if !ok {
		return 0, "", time.Time{}, errors.New("unauthenticated")
	}
	return s.uid, s.session, s.expires, nil
}

func (a *hungStore) LiveSessions(ctx context.Context, s []string) ([]bool, error) {
	select {
	case a.calls <- s:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestSessionExpiryDespiteAHungStore: a session check whose store does not
// answer gives up within the interval, so the next check still closes the
// connections whose session expired (they need no store). Before, the
// first check waited on the store for as long as Run lived and nothing was
// closed again (review of decision 0083).
func TestSessionExpiryDespiteAHungStore(t *testing.T) {
	a := &hungStore{calls: make(chan []string, 1), sessions: map[string]hungSession{
		"a": {7, "s1", time.Now().Add(time.Hour)},
		"b": {8, "s2", time.Now().Add(400 * time.Millisecond)},
	}}
	e := newEnv(t, Config{Auth: a, SessionCheckInterval: 100 * time.Millisecond})
	_ = e.dial("?token=a", nil)
	b := e.dial("?token=b", nil)
	<-a.calls // the store now hangs
	if code, _ := b.expectClose(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close code %d for the expired session, want %d", code, websocket.ClosePolicyViolation)
	}
}
