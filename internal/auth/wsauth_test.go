package auth_test

import (
	"errors"
	"strings"
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

// TestWSTokenNotMalleable: a WS token's 88 bytes take 118 base64
// characters, whose last carries 4 unused bits; decoded leniently, 16
// spellings verified as one token (review of decision 0083). Only the
// token as issued is accepted.
func TestWSTokenNotMalleable(t *testing.T) {
	s := newCachedService(t, auth.KeyCacheConfig{})
	ws, _ := s.WSToken(auth.Principal{UserID: 1})
	if _, err := s.AuthenticateToken(t.Context(), ws); err != nil {
		t.Fatalf("the token as issued: %v", err)
	}
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alpha, ws[len(ws)-1])
	for _, j := range []int{i ^ 1, i ^ 2, i ^ 3} {
		altered := ws[:len(ws)-1] + string(alpha[j])
		if _, err := s.AuthenticateToken(t.Context(), altered); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("the token with its last character %q for %q: err %v, want ErrUnauthenticated", alpha[j], alpha[i], err)
		}
	}
}
