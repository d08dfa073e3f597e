package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
)

// testAPIKeyCap: CreateAPIKey refuses a key past the user's cap with
// auth.ErrTooManyKeys (a conflict) and stores nothing; the cap is per
// user; counting and inserting are atomic, so concurrent creations never
// pass it together; max 0 is no cap; an unknown user is still not found.
func testAPIKeyCap(t *testing.T, s Store) {
	ctx := t.Context()
	ann := mustUser(t, s, "ann@example.com")
	bob := mustUser(t, s, "bob@example.com")
	key := func(u auth.User, name string) auth.APIKey {
		return auth.APIKey{UserID: u.ID, Name: name, Prefix: "fd_" + name, Hash: keyHash(fmt.Sprint(u.ID, name)), CreatedAt: created}
	}
	const max = 3
	for i := range max {
		if _, err := s.CreateAPIKey(ctx, key(ann, fmt.Sprint("a", i)), max); err != nil {
			t.Fatalf("CreateAPIKey(#%d of %d) error: %v", i+1, max, err)
		}
	}
	_, err := s.CreateAPIKey(ctx, key(ann, "over"), max)
	if !errors.Is(err, auth.ErrTooManyKeys) || !errors.Is(err, market.ErrConflict) {
		t.Errorf("CreateAPIKey() past the cap error = %v, want ErrTooManyKeys (a conflict)", err)
	}
	if _, err := s.APIKeyByHash(ctx, keyHash(fmt.Sprint(ann.ID, "over"))); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("the key refused past the cap: APIKeyByHash error = %v, want ErrNotFound (not stored)", err)
	}
	if _, err := s.CreateAPIKey(ctx, key(bob, "b0"), max); err != nil {
		t.Errorf("CreateAPIKey(bob) error = %v; the cap is per user", err)
	}
	if _, err := s.CreateAPIKey(ctx, key(ann, "nocap"), 0); err != nil {
		t.Errorf("CreateAPIKey(max 0) error = %v, want none (no cap)", err)
	}
	if _, err := s.CreateAPIKey(ctx, auth.APIKey{UserID: ann.ID + bob.ID + 1000, Name: "x", Prefix: "fd_x", Hash: keyHash("cap-x"), CreatedAt: created}, max); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("CreateAPIKey(unknown user, max %d) error = %v, want ErrNotFound", max, err)
	}

	// Concurrent creations by one user: exactly max get in.
	cat := mustUser(t, s, "cat@example.com")
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, over int
	)
	for i := range 4 * max {
		wg.Go(func() {
			_, err := s.CreateAPIKey(ctx, key(cat, fmt.Sprint("c", i)), max)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, auth.ErrTooManyKeys):
				over++
			default:
				t.Errorf("concurrent CreateAPIKey error: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != max || over != 3*max {
		t.Errorf("%d concurrent creations with a cap of %d: %d stored, %d refused; want %d and %d", 4*max, max, ok, over, max, 3*max)
	}
	if keys, err := s.ListAPIKeys(ctx, cat.ID); err != nil || len(keys) != max {
		t.Errorf("ListAPIKeys(cat) = %d keys, %v; want %d", len(keys), err, max)
	}
}
