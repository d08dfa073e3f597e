package storetest

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/portfolio"
)

func tokenHash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// testAccountTokens: a token is taken once, a newer one of the same kind
// voids the older, an expired one is refused, verification sticks, and a
// new password ends the user's sessions and reset tokens.
func testAccountTokens(t *testing.T, s AccountsStore) {
	ctx := t.Context()
	ann, bob := mustAccountUser(t, s, "ann@example.com"), mustAccountUser(t, s, "bob@example.com")
	now := created.Truncate(time.Millisecond)
	put := func(name string, user int64, p auth.TokenPurpose, ttl time.Duration) {
		t.Helper()
		if err := s.PutAccountToken(ctx, auth.AccountToken{Hash: tokenHash(name), UserID: user, Purpose: p, CreatedAt: now, ExpiresAt: now.Add(ttl)}); err != nil {
			t.Fatalf("PutAccountToken(%s) error: %v", name, err)
		}
	}
	take := func(name string, p auth.TokenPurpose, at time.Time) (auth.AccountToken, error) {
		return s.TakeAccountToken(ctx, tokenHash(name), p, at)
	}
	put("v1", ann.ID, auth.PurposeVerify, time.Hour)
	put("v2", ann.ID, auth.PurposeVerify, time.Hour) // voids v1
	put("r1", ann.ID, auth.PurposeReset, time.Hour)
	put("b1", bob.ID, auth.PurposeVerify, time.Minute)
	if _, err := take("v1", auth.PurposeVerify, now); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("an older verify token: %v, want ErrNotFound", err)
	}
	if _, err := take("v2", auth.PurposeReset, now); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("a verify token taken as a reset token: %v, want ErrNotFound", err)
	}
	got, err := take("v2", auth.PurposeVerify, now)
	want := auth.AccountToken{Hash: tokenHash("v2"), UserID: ann.ID, Purpose: auth.PurposeVerify, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err != nil || !gocmp.Equal(want, got) {
		t.Errorf("TakeAccountToken(v2) = %+v, %v; want %+v", got, err, want)
	}
	if _, err := take("v2", auth.PurposeVerify, now); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("a used token: %v, want ErrNotFound", err)
	}
	if _, err := take("b1", auth.PurposeVerify, now.Add(time.Minute)); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("an expired token: %v, want ErrNotFound", err)
	}
	if err := s.PutAccountToken(ctx, auth.AccountToken{Hash: tokenHash("x"), UserID: 9999, Purpose: auth.PurposeReset, CreatedAt: now, ExpiresAt: now}); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("a token of an unknown user: %v, want ErrNotFound", err)
	}

	if u, _ := s.UserByID(ctx, ann.ID); u.EmailVerifiedAt != nil {
		t.Fatalf("a user stored unverified reads back verified: %v", u.EmailVerifiedAt)
	}
	if err := s.MarkEmailVerified(ctx, ann.ID, now); err != nil {
		t.Fatal(err)
	}
	s.MarkEmailVerified(ctx, ann.ID, now.Add(time.Hour)) // the first time stays
	if u, _ := s.UserByID(ctx, ann.ID); u.EmailVerifiedAt == nil || !u.EmailVerifiedAt.Equal(now) {
		t.Errorf("EmailVerifiedAt = %v, want %v", u.EmailVerifiedAt, now)
	}

	for i := range 2 {
		if err := s.CreateSession(ctx, auth.Session{Hash: sessionHash(100 + i), UserID: ann.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	s.CreateSession(ctx, auth.Session{Hash: sessionHash(200), UserID: bob.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err := s.SetPassword(ctx, ann.ID, "$argon2id$new", now); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.UserByID(ctx, ann.ID); u.PasswordHash != "$argon2id$new" {
		t.Errorf("PasswordHash = %q after SetPassword", u.PasswordHash)
	}
	if _, err := s.SessionByHash(ctx, sessionHash(100)); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("a session after SetPassword: %v, want ErrNotFound", err)
	}
	if _, err := s.SessionByHash(ctx, sessionHash(200)); err != nil {
		t.Errorf("another user's session after SetPassword: %v", err)
	}
	if _, err := take("r1", auth.PurposeReset, now); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("a reset token after SetPassword: %v, want ErrNotFound", err)
	}
	if err := s.SetPassword(ctx, 9999, "x", now); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("SetPassword(unknown user) = %v, want ErrNotFound", err)
	}
}

// testListSessions: a user's live sessions, newest first, expired ones out.
func testListSessions(t *testing.T, s AccountsStore) {
	ctx := t.Context()
	ann, bob := mustAccountUser(t, s, "ann@example.com"), mustAccountUser(t, s, "bob@example.com")
	now := created.Truncate(time.Millisecond)
	add := func(i int, user int64, age, ttl time.Duration) {
		t.Helper()
		if err := s.CreateSession(ctx, auth.Session{Hash: sessionHash(i), UserID: user, CreatedAt: now.Add(-age), ExpiresAt: now.Add(ttl)}); err != nil {
			t.Fatal(err)
		}
	}
	add(1, ann.ID, 2*time.Hour, time.Hour)
	add(2, ann.ID, time.Hour, time.Hour)
	add(3, ann.ID, 3*time.Hour, -time.Second) // expired
	add(4, bob.ID, 0, time.Hour)
	ss, err := s.ListSessions(ctx, ann.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []auth.Session{
		{Hash: sessionHash(2), UserID: ann.ID, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)},
		{Hash: sessionHash(1), UserID: ann.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour)},
	}
	if diff := gocmp.Diff(want, ss); diff != "" {
		t.Errorf("ListSessions (-want +got):\n%s", diff)
	}
}

// testHoldings: CRUD scoped to the owner, one holding per symbol, the cap.
func testHoldings(t *testing.T, s AccountsStore) {
	ctx := t.Context()
	ann, bob := mustAccountUser(t, s, "ann@example.com"), mustAccountUser(t, s, "bob@example.com")
	now := created.Truncate(time.Millisecond)
	mk := func(user int64, sym string, max int) (portfolio.Holding, error) {
		return s.CreateHolding(ctx, portfolio.Holding{UserID: user, Symbol: sym, Quantity: 0.5, CostBasis: 42000.25, CreatedAt: created, UpdatedAt: created}, max)
	}
	h, err := mk(ann.ID, "BTC-USD", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := portfolio.Holding{ID: h.ID, UserID: ann.ID, Symbol: "BTC-USD", Quantity: 0.5, CostBasis: 42000.25, CreatedAt: now, UpdatedAt: now}
	if diff := gocmp.Diff(want, h); diff != "" {
		t.Errorf("CreateHolding (-want +got):\n%s", diff)
	}
	if _, err := mk(ann.ID, "BTC-USD", 3); !errors.Is(err, market.ErrConflict) || portfolio.IsTooMany(err) {
		t.Errorf("a second BTC-USD holding: %v, want ErrConflict", err)
	}
	mk(ann.ID, "AAPL", 3)
	mk(ann.ID, "ETH-USD", 3)
	if _, err := mk(ann.ID, "SOL-USD", 3); !portfolio.IsTooMany(err) {
		t.Errorf("a holding past the cap: %v, want ErrTooMany", err)
	}
	if _, err := mk(bob.ID, "BTC-USD", 3); err != nil {
		t.Errorf("bob's BTC-USD: %v", err)
	}
	hs, err := s.Holdings(ctx, ann.ID)
	if err != nil || len(hs) != 3 || hs[0].Symbol != "AAPL" || hs[1].Symbol != "BTC-USD" || hs[2].Symbol != "ETH-USD" {
		t.Fatalf("Holdings(ann) = %+v, %v; want AAPL, BTC-USD, ETH-USD", hs, err)
	}
	if _, err := s.UpdateHolding(ctx, portfolio.Holding{ID: h.ID, UserID: bob.ID, Quantity: 9, CostBasis: 1, UpdatedAt: now}); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("bob updating ann's holding: %v, want ErrNotFound", err)
	}
	later := now.Add(time.Minute)
	u, err := s.UpdateHolding(ctx, portfolio.Holding{ID: h.ID, UserID: ann.ID, Quantity: 2, CostBasis: 43000, UpdatedAt: later})
	if err != nil || u.Quantity != 2 || u.CostBasis != 43000 || !u.UpdatedAt.Equal(later) || !u.CreatedAt.Equal(now) || u.Symbol != "BTC-USD" {
		t.Errorf("UpdateHolding = %+v, %v", u, err)
	}
	if err := s.DeleteHolding(ctx, bob.ID, h.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("bob deleting ann's holding: %v, want ErrNotFound", err)
	}
	if err := s.DeleteHolding(ctx, ann.ID, h.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteHolding(ctx, ann.ID, h.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
}
