package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/portfolio"
	"github.com/findash/findash/internal/watchlist"
)

// AccountsStore is what the accounts suite needs: users, sessions and
// watchlists.
type AccountsStore interface {
	auth.Store
	auth.SessionStore
	auth.AccountStore
	auth.SessionLister
	watchlist.Store
	portfolio.Store
	// DeleteExpiredSessions deletes sessions expired at or before now and
	// returns how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
}

// RunAccounts runs the conformance suite of sessions and watchlists. open
// must return a fresh, migrated, empty store for each call and close it
// when t ends.
func RunAccounts(t *testing.T, open func(t *testing.T) AccountsStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s AccountsStore)
	}{
		{"Sessions", testSessions},
		{"Watchlists", testWatchlists},
		{"WatchlistCapConcurrent", testWatchlistCapConcurrent},
		{"SessionsPerUser", testSessionsPerUser},
		{"AccountTokens", testAccountTokens},
		{"ListSessions", testListSessions},
		{"Holdings", testHoldings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

func mustAccountUser(t *testing.T, s auth.Store, email string) auth.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), auth.User{Email: email, PasswordHash: "$argon2id$x", CreatedAt: created})
	if err != nil {
		t.Fatalf("CreateUser(%q) error: %v", email, err)
	}
	return u
}

func sessionHash(i int) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "session-%d", i))
	return h[:]
}

func testSessions(t *testing.T, s AccountsStore) {
	ctx := t.Context()
	ann := mustAccountUser(t, s, "ann@example.com")
	exp := created.Add(30 * 24 * time.Hour)
	in := auth.Session{Hash: sessionHash(1), UserID: ann.ID, CreatedAt: created, ExpiresAt: exp}
	if err := s.CreateSession(ctx, in); err != nil {
		t.Fatalf("CreateSession() error: %v", err)
	}
	got, err := s.SessionByHash(ctx, sessionHash(1))
	if err != nil {
		t.Fatalf("SessionByHash() error: %v", err)
	}
	want := auth.Session{Hash: sessionHash(1), UserID: ann.ID, CreatedAt: created.Truncate(time.Millisecond), ExpiresAt: exp.Truncate(time.Millisecond)}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("SessionByHash() (-want +got):\n%s", diff)
	}
	if err := s.CreateSession(ctx, in); !errors.Is(err, market.ErrConflict) {
		t.Errorf("CreateSession(same hash) error = %v, want ErrConflict", err)
	}
	if err := s.CreateSession(ctx, auth.Session{Hash: sessionHash(2), UserID: ann.ID + 1000, CreatedAt: created, ExpiresAt: exp}); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("CreateSession(unknown user) error = %v, want ErrNotFound", err)
	}
	if _, err := s.SessionByHash(ctx, sessionHash(3)); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("SessionByHash(unknown) error = %v, want ErrNotFound", err)
	}

	if err := s.DeleteSession(ctx, sessionHash(1)); err != nil {
		t.Fatalf("DeleteSession() error: %v", err)
	}
	if _, err := s.SessionByHash(ctx, sessionHash(1)); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("SessionByHash(deleted) error = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, sessionHash(1)); err != nil {
		t.Errorf("DeleteSession(again) error = %v, want nil (idempotent)", err)
	}

	// The sweep deletes exactly the sessions expired at or before now.
	for i, e := range []time.Time{created.Add(time.Hour), created.Add(2 * time.Hour), created.Add(3 * time.Hour)} {
		if err := s.CreateSession(ctx, auth.Session{Hash: sessionHash(10 + i), UserID: ann.ID, CreatedAt: created, ExpiresAt: e}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteExpiredSessions(ctx, created.Add(2*time.Hour))
	if err != nil || n != 2 {
		t.Errorf("DeleteExpiredSessions() = %d, %v; want 2, nil", n, err)
	}
	if _, err := s.SessionByHash(ctx, sessionHash(12)); err != nil {
		t.Errorf("SessionByHash(unexpired) after the sweep: %v", err)
	}
}

func testWatchlists(t *testing.T, s AccountsStore) {
	ctx := t.Context()
	ann := mustAccountUser(t, s, "ann@example.com")
	bob := mustAccountUser(t, s, "bob@example.com")
	updated := created.Add(time.Minute)

	w, err := s.CreateWatchlist(ctx, watchlist.Watchlist{UserID: ann.ID, Name: "Crypto", Symbols: []string{"BTC-USD", "ETH-USD"}, CreatedAt: created, UpdatedAt: created}, 50)
	if err != nil {
		t.Fatalf("CreateWatchlist() error: %v", err)
	}
	want := watchlist.Watchlist{ID: w.ID, UserID: ann.ID, Name: "Crypto", Symbols: []string{"BTC-USD", "ETH-USD"},
		CreatedAt: created.Truncate(time.Millisecond), UpdatedAt: created.Truncate(time.Millisecond)}
	if diff := gocmp.Diff(want, w); diff != "" {
		t.Errorf("CreateWatchlist() (-want +got):\n%s", diff)
	}
	empty, err := s.CreateWatchlist(ctx, watchlist.Watchlist{UserID: ann.ID, Name: "Empty", CreatedAt: created, UpdatedAt: created}, 50)
	if err != nil {
		t.Fatalf("CreateWatchlist(no symbols) error: %v", err)
	}
	if _, err := s.CreateWatchlist(ctx, watchlist.Watchlist{UserID: bob.ID + 1000, Name: "x", CreatedAt: created, UpdatedAt: created}, 50); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("CreateWatchlist(unknown user) error = %v, want ErrNotFound", err)
	}

	got, err := s.Watchlist(ctx, ann.ID, w.ID)
	if err != nil {
		t.Fatalf("Watchlist() error: %v", err)
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("Watchlist() (-want +got):\n%s", diff)
	}
	list, err := s.ListWatchlists(ctx, ann.ID)
	if err != nil || len(list) != 2 || list[0].ID != w.ID || list[1].ID != empty.ID || list[1].Symbols == nil || len(list[1].Symbols) != 0 {
		t.Errorf("ListWatchlists(ann) = %+v, %v; want [Crypto, Empty (symbols [])]", list, err)
	}
	if list, err := s.ListWatchlists(ctx, bob.ID); err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListWatchlists(bob) = %#v, %v; want an empty, non-nil slice", list, err)
	}

	// Another user's list does not exist for them.
	if _, err := s.Watchlist(ctx, bob.ID, w.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Watchlist(bob, ann's) error = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateWatchlist(ctx, watchlist.Watchlist{ID: w.ID, UserID: bob.ID, Name: "mine", Symbols: []string{}, UpdatedAt: updated}); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("UpdateWatchlist(bob, ann's) error = %v, want ErrNotFound", err)
	}
	if err := s.DeleteWatchlist(ctx, bob.ID, w.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("DeleteWatchlist(bob, ann's) error = %v, want ErrNotFound", err)
	}

	up, err := s.UpdateWatchlist(ctx, watchlist.Watchlist{ID: w.ID, UserID: ann.ID, Name: "Coins", Symbols: []string{"SOL-USD"}, UpdatedAt: updated})
	if err != nil {
		t.Fatalf("UpdateWatchlist() error: %v", err)
	}
	want.Name, want.Symbols, want.UpdatedAt = "Coins", []string{"SOL-USD"}, updated.Truncate(time.Millisecond)
	if diff := gocmp.Diff(want, up); diff != "" {
		t.Errorf("UpdateWatchlist() (-want +got):\n%s", diff)
	}
	if got, _ := s.Watchlist(ctx, ann.ID, w.ID); gocmp.Diff(want, got) != "" {
		t.Errorf("Watchlist() after update = %+v, want %+v", got, want)
	}
	if _, err := s.UpdateWatchlist(ctx, watchlist.Watchlist{ID: w.ID + 1000, UserID: ann.ID, Name: "x", Symbols: []string{}, UpdatedAt: updated}); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("UpdateWatchlist(unknown id) error = %v, want ErrNotFound", err)
	}

	if err := s.DeleteWatchlist(ctx, ann.ID, w.ID); err != nil {
		t.Fatalf("DeleteWatchlist() error: %v", err)
	}
	if _, err := s.Watchlist(ctx, ann.ID, w.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Watchlist(deleted) error = %v, want ErrNotFound", err)
	}
	if err := s.DeleteWatchlist(ctx, ann.ID, w.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("DeleteWatchlist(deleted) error = %v, want ErrNotFound", err)
	}
}

// testWatchlistCapConcurrent: concurrent creates never take a user past the cap.
func testWatchlistCapConcurrent(t *testing.T, s AccountsStore) {
	ctx := t.Context()
	ann := mustAccountUser(t, s, "ann@example.com")
	const max, tries = 5, 12
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		wg.Go(func() {
			_, errs[i] = s.CreateWatchlist(ctx, watchlist.Watchlist{UserID: ann.ID, Name: fmt.Sprint("l", i), CreatedAt: created, UpdatedAt: created}, max)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, watchlist.ErrTooMany) || !errors.Is(err, market.ErrConflict):
			t.Errorf("CreateWatchlist() over the cap error = %v, want ErrTooMany (a conflict)", err)
		}
	}
	if list, err := s.ListWatchlists(ctx, ann.ID); ok != max || err != nil || len(list) != max {
		t.Errorf("%d concurrent creates with cap %d: %d succeeded, %d stored (%v); want %d", tries, max, ok, len(list), err, max)
	}
}

// testSessionsPerUser: deleting one user's session leaves another's.
func testSessionsPerUser(t *testing.T, s AccountsStore) {
	ctx := t.Context()
	ann := mustAccountUser(t, s, "ann@example.com")
	bob := mustAccountUser(t, s, "bob@example.com")
	for i, u := range []auth.User{ann, bob} {
		if err := s.CreateSession(ctx, auth.Session{Hash: sessionHash(100 + i), UserID: u.ID, CreatedAt: created, ExpiresAt: created.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSession(ctx, sessionHash(100)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SessionByHash(ctx, sessionHash(101)); err != nil || got.UserID != bob.ID {
		t.Errorf("bob's session after deleting ann's = %+v, %v", got, err)
	}
}
