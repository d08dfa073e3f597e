package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/findash/findash/internal/auth"
)

// FuzzAuthenticate feeds arbitrary bearer strings to Authenticate and
// AuthenticateToken (through the key cache, over a real store): they never
// panic, and accept only a real credential — an API key or session token,
// optionally after "Bearer " and blanks — and the WebSocket path never an
// API key. Long run: go test -run '^$' -fuzz FuzzAuthenticate -fuzztime 10m ./internal/auth
func FuzzAuthenticate(f *testing.F) {
	s := newCachedService(f, auth.KeyCacheConfig{})
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "fuzz@example.com", "")
	if err != nil {
		f.Fatal(err)
	}
	key, _, err := s.CreateAPIKey(ctx, u.ID, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	session, _, err := s.CreateSession(ctx, u.ID)
	if err != nil {
		f.Fatal(err)
	}
	sp, err := s.Authenticate(ctx, session)
	if err != nil {
		f.Fatal(err)
	}
	ws, _ := s.WSToken(sp) // names the session and its expiry (decision 0083)
	bare, _ := s.WSToken(auth.Principal{UserID: u.ID})
	for _, seed := range []string{
		key, "Bearer " + key, "bearer  " + key + " ", session, "BEARER " + session, ws, bare, "",
		"Bearer", "Bearer ", "fd_", "fds_", "fdw_", key[:len(key)-1], key + "=", strings.ToUpper(key),
		"Basic " + key, "Bearer Bearer " + key, "\x00" + key, key + "\n", "fd_" + strings.Repeat("A", 43),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, bearer string) {
		p, err := s.Authenticate(ctx, bearer)
		if err == nil {
			tok := strings.TrimSpace(bearer)
			if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
				tok = strings.TrimSpace(tok[7:])
			}
			switch {
			case tok == key && p.APIKeyID != 0 && p.UserID == u.ID:
			case tok == session && p.APIKeyID == 0 && p.UserID == u.ID:
			default:
				t.Fatalf("Authenticate(%q) = %+v, nil; not a credential", bearer, p)
			}
		} else if !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("Authenticate(%q) error = %v, want ErrUnauthenticated", bearer, err)
		}
		uid, err := s.AuthenticateToken(ctx, bearer)
		if err == nil {
			tok := strings.TrimSpace(bearer)
			if (tok != session && tok != ws && tok != bare) || uid != u.ID {
				t.Fatalf("AuthenticateToken(%q) = %d, nil; want only the session or WS token", bearer, uid)
			}
		}
		// What a token says of its session is what was signed or stored:
		// a forged or altered WS token must not name another session or
		// outlive its own.
		uid, sess, exp, err := s.AuthenticateSession(ctx, bearer)
		if err == nil {
			tok := strings.TrimSpace(bearer)
			switch {
			case (tok == session || tok == ws) && uid == u.ID && sess == sp.Session && exp.Sub(sp.SessionExpires).Abs() < time.Millisecond: // a WS token carries ms
			case tok == bare && uid == u.ID && sess == "":
			default:
				t.Fatalf("AuthenticateSession(%q) = %d, %q, %v, nil; want the session's own", bearer, uid, sess, exp)
			}
		}
	})
}
