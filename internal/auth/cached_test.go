package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/findash/findash/internal/auth"
)

// TestAuthenticateCached: AuthenticateCached answers from the key cache
// alone — a cached key (stale too), a key known to be unknown, a
// malformed token — and says ErrNeedsLookup, reading nothing, for what
// only the store can answer: an uncached key, a session token. The API
// refuses only those from a client over its failed-lookup budget
// (decision 0084).
func TestAuthenticateCached(t *testing.T) {
	s := newCachedService(t, auth.KeyCacheConfig{TTL: 30 * time.Second, MaxStale: time.Hour})
	ctx := t.Context()
	secret, k := s.newKey(t, "ann@example.com")
	unknown := "fd_" + strings.Repeat("C", 43)
	token, _, err := s.CreateSession(ctx, k.UserID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{secret, unknown, token, "Bearer " + token} {
		if _, err := s.AuthenticateCached(ctx, tok); !errors.Is(err, auth.ErrNeedsLookup) {
			t.Errorf("AuthenticateCached(%.12q…) before any lookup = %v, want ErrNeedsLookup", tok, err)
		}
	}
	if n := s.keys.readsOf(secret) + s.keys.readsOf(unknown); n != 0 {
		t.Fatalf("store reads by AuthenticateCached = %d, want 0", n)
	}
	if _, err := s.AuthenticateCached(ctx, "fd_short"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("AuthenticateCached(malformed) = %v, want ErrUnauthenticated", err)
	}
	s.Authenticate(ctx, secret)
	s.Authenticate(ctx, unknown)
	if p, err := s.AuthenticateCached(ctx, secret); err != nil || p.APIKeyID != k.ID {
		t.Errorf("AuthenticateCached(cached key) = %+v, %v; want key %d", p, err, k.ID)
	}
	if _, err := s.AuthenticateCached(ctx, unknown); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("AuthenticateCached(known unknown key) = %v, want ErrUnauthenticated", err)
	}
	// Past the TTL with the store down: served stale, as Authenticate does.
	s.keys.set(func(f *faultyKeys) { f.err = errDown })
	s.clk.Add(time.Minute)
	if p, err := s.AuthenticateCached(ctx, secret); err != nil || p.APIKeyID != k.ID {
		t.Errorf("AuthenticateCached(stale key, store down) = %+v, %v; want key %d", p, err, k.ID)
	}
	if n := s.keys.readsOf(unknown); n != 1 {
		t.Errorf("store reads of the unknown key = %d, want 1 (Authenticate's)", n)
	}
}
