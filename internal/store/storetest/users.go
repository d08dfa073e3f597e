package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
)

var created = time.Date(2025, 11, 27, 10, 0, 0, 123_456_789, time.UTC)

func mustUser(t *testing.T, s Store, email string) auth.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), auth.User{Email: email, PasswordHash: "$argon2id$x", CreatedAt: created})
	if err != nil {
		t.Fatalf("CreateUser(%q) error: %v", email, err)
	}
	return u
}

func testUsers(t *testing.T, s Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ann@example.com")
	if u.ID == 0 {
		t.Error("CreateUser() returned ID 0")
	}
	want := auth.User{ID: u.ID, Email: "ann@example.com", PasswordHash: "$argon2id$x", CreatedAt: created.Truncate(time.Millisecond)}
	if diff := gocmp.Diff(want, u); diff != "" {
		t.Errorf("CreateUser() (-want +got):\n%s", diff)
	}
	noPass, err := s.CreateUser(ctx, auth.User{Email: "bob@example.com", CreatedAt: created})
	if err != nil {
		t.Fatalf("CreateUser(no password) error: %v", err)
	}
	if noPass.ID == u.ID || noPass.PasswordHash != "" {
		t.Errorf("CreateUser(no password) = %+v", noPass)
	}
	if _, err := s.CreateUser(ctx, auth.User{Email: "ann@example.com", CreatedAt: created}); !errors.Is(err, market.ErrConflict) {
		t.Errorf("CreateUser(duplicate) error = %v, want ErrConflict", err)
	}

	got, err := s.UserByEmail(ctx, "ann@example.com")
	if err != nil {
		t.Fatalf("UserByEmail() error: %v", err)
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("UserByEmail() (-want +got):\n%s", diff)
	}
	got, err = s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserByID() error: %v", err)
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("UserByID() (-want +got):\n%s", diff)
	}
	if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("UserByEmail(unknown) error = %v, want ErrNotFound", err)
	}
	if _, err := s.UserByID(ctx, u.ID+1000); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("UserByID(unknown) error = %v, want ErrNotFound", err)
	}
}

func keyHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func testAPIKeys(t *testing.T, s Store) {
	ctx := t.Context()
	ann := mustUser(t, s, "ann@example.com")
	bob := mustUser(t, s, "bob@example.com")

	if _, err := s.CreateAPIKey(ctx, auth.APIKey{UserID: ann.ID + bob.ID + 1000, Name: "x", Prefix: "fd_x", Hash: keyHash("x"), CreatedAt: created}, 0); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("CreateAPIKey(unknown user) error = %v, want ErrNotFound", err)
	}
	k1, err := s.CreateAPIKey(ctx, auth.APIKey{UserID: ann.ID, Name: "laptop", Prefix: "fd_aaaa", Hash: keyHash("a"), CreatedAt: created}, 0)
	if err != nil {
		t.Fatalf("CreateAPIKey() error: %v", err)
	}
	want1 := auth.APIKey{ID: k1.ID, UserID: ann.ID, Name: "laptop", Prefix: "fd_aaaa", Hash: keyHash("a"), CreatedAt: created.Truncate(time.Millisecond)}
	if diff := gocmp.Diff(want1, k1); diff != "" {
		t.Errorf("CreateAPIKey() (-want +got):\n%s", diff)
	}
	k2, err := s.CreateAPIKey(ctx, auth.APIKey{UserID: ann.ID, Name: "ci", Prefix: "fd_bbbb", Hash: keyHash("b"), CreatedAt: created.Add(time.Second)}, 0)
	if err != nil {
		t.Fatalf("CreateAPIKey() error: %v", err)
	}
	kb, err := s.CreateAPIKey(ctx, auth.APIKey{UserID: bob.ID, Name: "bob", Prefix: "fd_cccc", Hash: keyHash("c"), CreatedAt: created}, 0)
	if err != nil {
		t.Fatalf("CreateAPIKey() error: %v", err)
	}
	if _, err := s.CreateAPIKey(ctx, auth.APIKey{UserID: bob.ID, Name: "dup", Prefix: "fd_aaaa", Hash: keyHash("a"), CreatedAt: created}, 0); !errors.Is(err, market.ErrConflict) {
		t.Errorf("CreateAPIKey(duplicate hash) error = %v, want ErrConflict", err)
	}

	got, err := s.APIKeyByHash(ctx, keyHash("a"))
	if err != nil {
		t.Fatalf("APIKeyByHash() error: %v", err)
	}
	if diff := gocmp.Diff(want1, got); diff != "" {
		t.Errorf("APIKeyByHash() (-want +got):\n%s", diff)
	}
	if _, err := s.APIKeyByHash(ctx, keyHash("zzz")); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("APIKeyByHash(unknown) error = %v, want ErrNotFound", err)
	}

	list, err := s.ListAPIKeys(ctx, ann.ID)
	if err != nil {
		t.Fatalf("ListAPIKeys() error: %v", err)
	}
	if len(list) != 2 || list[0].ID != k1.ID || list[1].ID != k2.ID {
		t.Errorf("ListAPIKeys(ann) = %+v, want keys %d, %d oldest first", list, k1.ID, k2.ID)
	}
	if list, err := s.ListAPIKeys(ctx, ann.ID+bob.ID+1000); err != nil || len(list) != 0 {
		t.Errorf("ListAPIKeys(unknown) = %v, %v; want none, nil", list, err)
	}

	used := created.Add(time.Hour)
	if err := s.TouchAPIKey(ctx, k1.ID, used); err != nil {
		t.Fatalf("TouchAPIKey() error: %v", err)
	}
	got, err = s.APIKeyByHash(ctx, keyHash("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(used.Truncate(time.Millisecond)) {
		t.Errorf("LastUsedAt after TouchAPIKey = %v, want %v", got.LastUsedAt, used.Truncate(time.Millisecond))
	}
	if err := s.TouchAPIKey(ctx, k1.ID+k2.ID+kb.ID+1000, used); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("TouchAPIKey(unknown) error = %v, want ErrNotFound", err)
	}

	// Only the owner deletes.
	if err := s.DeleteAPIKey(ctx, bob.ID, k1.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("DeleteAPIKey(someone else's) error = %v, want ErrNotFound", err)
	}
	if _, err := s.APIKeyByHash(ctx, keyHash("a")); err != nil {
		t.Errorf("key gone after a refused delete: %v", err)
	}
	if err := s.DeleteAPIKey(ctx, ann.ID, k1.ID); err != nil {
		t.Fatalf("DeleteAPIKey() error: %v", err)
	}
	if _, err := s.APIKeyByHash(ctx, keyHash("a")); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("APIKeyByHash(deleted) error = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAPIKey(ctx, ann.ID, k1.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("DeleteAPIKey(again) error = %v, want ErrNotFound", err)
	}
	list, err = s.ListAPIKeys(ctx, ann.ID)
	if err != nil || len(list) != 1 || !bytes.Equal(list[0].Hash, keyHash("b")) {
		t.Errorf("ListAPIKeys(ann) after delete = %+v, %v; want only %q", list, err, "ci")
	}
}
