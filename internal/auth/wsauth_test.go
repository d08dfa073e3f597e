package auth_test

import (
	"errors"
	"testing"

	"github.com/findash/findash/internal/auth"
)

// TestAuthenticateTokenRefusesAPIKeys: the WebSocket credential opens the
// user's alerts channel, so it must be a session or a token derived from
// one; an API key is for ingest only, and a leaked ingest key must not read
// its owner's alerts (issue 13 item 13).
func TestAuthenticateTokenRefusesAPIKeys(t *testing.T) {
	s, _, _ := newService(t)
	ctx := t.Context()
	ann, err := s.CreateUser(ctx, "ann@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.CreateAPIKey(ctx, ann.ID, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{secret, "Bearer " + secret, " " + secret + " "} {
		if uid, err := s.AuthenticateToken(ctx, tok); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("AuthenticateToken(api key %q) = %d, %v; want ErrUnauthenticated", tok, uid, err)
		}
	}
	session, _, err := s.CreateSession(ctx, ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := s.WSToken(auth.Principal{UserID: ann.ID})
	for name, tok := range map[string]string{"session": session, "ws token": ws} {
		if uid, err := s.AuthenticateToken(ctx, tok); err != nil || uid != ann.ID {
			t.Errorf("AuthenticateToken(%s) = %d, %v; want %d", name, uid, err, ann.ID)
		}
	}
}
