package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

func TestSessions(t *testing.T) {
	s, _, clk := newService(t)
	ctx := t.Context()
	ann, err := s.CreateUser(ctx, "ann@example.com", "0123456789")
	if err != nil {
		t.Fatal(err)
	}
	token, sess, err := s.CreateSession(ctx, ann.ID)
	if err != nil {
		t.Fatalf("CreateSession() error: %v", err)
	}
	if !auth.IsSessionToken(token) || !strings.HasPrefix(token, "fds_") || len(token) != 47 {
		t.Errorf("session token %q is not fds_ + 43 base64url characters", token)
	}
	if want := clk.Now().Add(auth.DefaultSessionTTL); !sess.ExpiresAt.Equal(want) || sess.UserID != ann.ID {
		t.Errorf("CreateSession() = %+v, want user %d expiring %v", sess, ann.ID, want)
	}
	token2, _, err := s.CreateSession(ctx, ann.ID)
	if err != nil || token2 == token {
		t.Fatalf("second CreateSession() = %q, %v; want another token", token2, err)
	}
	if _, _, err := s.CreateSession(ctx, ann.ID+100); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("CreateSession(unknown user) error = %v, want ErrNotFound", err)
	}

	want := auth.Principal{UserID: ann.ID, Session: string(sess.Hash), SessionExpires: sess.ExpiresAt}
	for _, bearer := range []string{token, "Bearer " + token} {
		if p, err := s.Authenticate(ctx, bearer); err != nil || p != want {
			t.Errorf("Authenticate(%q) = %+v, %v; want %+v", bearer, p, err, want)
		}
	}
	if uid, err := s.AuthenticateToken(ctx, token); err != nil || uid != ann.ID {
		t.Errorf("AuthenticateToken(session) = %d, %v; want %d", uid, err, ann.ID)
	}
	for _, bad := range []string{token[:len(token)-1], token + "A", "fds_" + strings.Repeat("A", 43), "fds_" + strings.Repeat("!", 43)} {
		if _, err := s.Authenticate(ctx, bad); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) error = %v, want ErrUnauthenticated", bad, err)
		}
	}

	// Revocation takes effect at once, only for that session, and is idempotent.
	if err := s.RevokeSession(ctx, token); err != nil {
		t.Fatalf("RevokeSession() error: %v", err)
	}
	if _, err := s.Authenticate(ctx, token); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate(revoked) error = %v, want ErrUnauthenticated", err)
	}
	if _, err := s.Authenticate(ctx, token2); err != nil {
		t.Errorf("Authenticate(other session) after revoking one: %v", err)
	}
	for _, tok := range []string{token, "junk", ""} {
		if err := s.RevokeSession(ctx, tok); err != nil {
			t.Errorf("RevokeSession(%q) error = %v, want nil", tok, err)
		}
	}

	// Fixed expiry: valid until just before ExpiresAt, refused from then on.
	clk.Add(auth.DefaultSessionTTL - time.Millisecond)
	if _, err := s.Authenticate(ctx, token2); err != nil {
		t.Errorf("Authenticate() 1 ms before expiry: %v", err)
	}
	clk.Add(time.Millisecond)
	if _, err := s.Authenticate(ctx, token2); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate() at expiry error = %v, want ErrUnauthenticated", err)
	}
}

func TestSessionStoreDown(t *testing.T) {
	s, db, _ := newService(t)
	ann, err := s.CreateUser(t.Context(), "ann@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := s.CreateSession(t.Context(), ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := s.Authenticate(context.Background(), token); err == nil || errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate(session) with the store closed = %v, want an error other than ErrUnauthenticated", err)
	}
}

func TestWSToken(t *testing.T) {
	c := &clock{t: time.Date(2025, 11, 27, 12, 0, 0, 0, time.UTC)}
	key := []byte("0123456789abcdef0123456789abcdef")
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := argon2id.New(fastParams, 1)
	a := auth.NewService(db, h, auth.Config{Now: c.Now, WSTokenKey: key}, nil)
	b := auth.NewService(db, h, auth.Config{Now: c.Now, WSTokenKey: key}, nil) // another instance, same key
	other := auth.NewService(db, h, auth.Config{Now: c.Now}, nil)              // a random key

	tok, exp := a.WSToken(auth.Principal{UserID: 42})
	if !strings.HasPrefix(tok, "fdw_") || len(tok) != 122 {
		t.Errorf("WSToken() = %q, want fdw_ + 118 characters", tok)
	}
	if want := c.Now().Add(auth.DefaultWSTokenTTL); !exp.Equal(want) {
		t.Errorf("WSToken() expires %v, want %v", exp, want)
	}
	ctx := t.Context()
	db.Close() // verification needs no I/O
	for name, s := range map[string]*auth.Service{"issuer": a, "same key": b} {
		if uid, err := s.AuthenticateToken(ctx, tok); err != nil || uid != 42 {
			t.Errorf("%s: AuthenticateToken() = %d, %v; want 42", name, uid, err)
		}
	}
	if _, err := other.AuthenticateToken(ctx, tok); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("AuthenticateToken() with another key error = %v, want ErrUnauthenticated", err)
	}
	// WebSocket tokens are not bearer tokens for the REST API.
	if _, err := a.Authenticate(ctx, tok); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate(ws token) error = %v, want ErrUnauthenticated", err)
	}

	raw, _ := base64.RawURLEncoding.DecodeString(tok[4:])
	tampered := func(i int) string {
		r := append([]byte(nil), raw...)
		r[i] ^= 1
		return "fdw_" + base64.RawURLEncoding.EncodeToString(r)
	}
	for name, bad := range map[string]string{
		"user id changed": tampered(7),
		"expiry changed":  tampered(15),
		"mac changed":     tampered(40),
		"truncated":       tok[:len(tok)-1],
		"empty":           "fdw_",
		"not base64":      "fdw_" + strings.Repeat("!", 64),
	} {
		if _, err := a.AuthenticateToken(ctx, bad); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("AuthenticateToken(%s) error = %v, want ErrUnauthenticated", name, err)
		}
	}

	c.Add(auth.DefaultWSTokenTTL - time.Millisecond)
	if _, err := a.AuthenticateToken(ctx, tok); err != nil {
		t.Errorf("AuthenticateToken() 1 ms before expiry: %v", err)
	}
	c.Add(time.Millisecond)
	if _, err := a.AuthenticateToken(ctx, tok); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("AuthenticateToken() at expiry error = %v, want ErrUnauthenticated", err)
	}
}

// memKV is a SessionKV with expiry, standing in for Redis (whose own tests
// run against a real server) to check the adapter's keying and TTLs.
type memKV struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]struct {
		uid int64
		exp time.Time
	}
	ttls []time.Duration
}

func (k *memKV) SetSession(_ context.Context, id string, uid int64, ttl time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ttls = append(k.ttls, ttl)
	k.m[id] = struct {
		uid int64
		exp time.Time
	}{uid, k.now().Add(ttl)}
	return nil
}

func (k *memKV) Session(_ context.Context, id string) (int64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.m[id]
	if !ok || !k.now().Before(e.exp) {
		return 0, market.ErrNotFound
	}
	return e.uid, nil
}

func (k *memKV) DeleteSession(_ context.Context, id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, id)
	return nil
}

func TestKVSessions(t *testing.T) {
	_, db, clk := newService(t)
	kv := &memKV{now: clk.Now, m: map[string]struct {
		uid int64
		exp time.Time
	}{}}
	s := auth.NewService(db, argon2id.New(fastParams, 1), auth.Config{Now: clk.Now, Sessions: auth.KVSessions(kv, clk.Now), SessionTTL: time.Hour}, nil)
	ctx := t.Context()
	ann, err := s.CreateUser(ctx, "ann@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := s.CreateSession(ctx, ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	for id := range kv.m {
		if strings.Contains(id, token[4:]) || len(id) != 64 {
			t.Errorf("kv key %q: want the hex SHA-256 of the token, not the token", id)
		}
	}
	if len(kv.ttls) != 1 || kv.ttls[0] != time.Hour {
		t.Errorf("TTLs given to the kv = %v, want [1h]", kv.ttls)
	}
	if p, err := s.Authenticate(ctx, token); err != nil || p.UserID != ann.ID {
		t.Errorf("Authenticate() = %+v, %v", p, err)
	}
	clk.Add(time.Hour)
	if _, err := s.Authenticate(ctx, token); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate() after the kv expired it: %v, want ErrUnauthenticated", err)
	}
	clear(kv.m)
	token, _, _ = s.CreateSession(ctx, ann.ID)
	if err := s.RevokeSession(ctx, token); err != nil || len(kv.m) != 0 {
		t.Errorf("RevokeSession() = %v, %d entries left; want nil, 0", err, len(kv.m))
	}
}
