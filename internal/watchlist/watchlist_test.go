package watchlist_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/watchlist"
)

func TestValidate(t *testing.T) {
	many := make([]string, watchlist.MaxSymbols+1)
	for i := range many {
		many[i] = fmt.Sprintf("S%03d", i)
	}
	tests := []struct {
		name      string
		inName    string
		inSymbols []string
		wantName  string
		wantSyms  []string
		wantField string // "" = valid
	}{
		{"ok", " Crypto ", []string{"BTC-USD", "EUR/USD"}, "Crypto", []string{"BTC-USD", "EUR/USD"}, ""},
		{"nil symbols", "x", nil, "x", []string{}, ""},
		{"duplicates dropped, order kept", "x", []string{"B", "A", "B"}, "x", []string{"B", "A"}, ""},
		{"64 runes", strings.Repeat("é", 64), nil, strings.Repeat("é", 64), []string{}, ""},
		{"200 symbols", "x", many[:200], "x", many[:200], ""},
		{"empty name", "   ", nil, "", nil, "name"},
		{"65 runes", strings.Repeat("a", 65), nil, "", nil, "name"},
		{"control char", "a\nb", nil, "", nil, "name"},
		{"bad utf8", "a\xffb", nil, "", nil, "name"},
		{"201 symbols", "x", many, "", nil, "symbols"},
		{"lower case symbol", "x", []string{"AAPL", "btc"}, "", nil, "symbols[1]"},
		{"empty symbol", "x", []string{""}, "", nil, "symbols[0]"},
		{"long symbol", "x", []string{strings.Repeat("A", 33)}, "", nil, "symbols[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, syms, err := watchlist.Validate(tc.inName, tc.inSymbols)
			if tc.wantField != "" {
				var ve *market.ValidationError
				if !errors.As(err, &ve) || ve.Field != tc.wantField || !errors.Is(err, market.ErrInvalid) {
					t.Fatalf("Validate() error = %v, want a validation error of field %q", err, tc.wantField)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate() error: %v", err)
			}
			if name != tc.wantName || gocmp.Diff(tc.wantSyms, syms) != "" {
				t.Errorf("Validate() = %q, %q; want %q, %q", name, syms, tc.wantName, tc.wantSyms)
			}
		})
	}
}

func TestService(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "w.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	s := watchlist.NewService(db, watchlist.Config{Now: func() time.Time { return now }})
	ann, err := db.CreateUser(ctx, auth.User{Email: "ann@example.com", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := db.CreateUser(ctx, auth.User{Email: "bob@example.com", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}

	w, err := s.Create(ctx, ann.ID, " Tech ", []string{"AAPL", "MSFT", "AAPL"})
	if err != nil {
		t.Fatalf("Create() error: %v", err)
	}
	want := watchlist.Watchlist{ID: w.ID, UserID: ann.ID, Name: "Tech", Symbols: []string{"AAPL", "MSFT"}, CreatedAt: now, UpdatedAt: now}
	if diff := gocmp.Diff(want, w); diff != "" {
		t.Errorf("Create() (-want +got):\n%s", diff)
	}
	if _, err := s.Create(ctx, ann.ID, "", nil); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("Create(no name) error = %v, want ErrInvalid", err)
	}
	if _, err := s.Get(ctx, bob.ID, w.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Get(bob, ann's) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Update(ctx, bob.ID, w.ID, "x", nil); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Update(bob, ann's) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Update(ctx, ann.ID, w.ID, "x", []string{"nope"}); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("Update(bad symbol) error = %v, want ErrInvalid", err)
	}
	if err := s.Delete(ctx, bob.ID, w.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Delete(bob, ann's) error = %v, want ErrNotFound", err)
	}

	// The cap: MaxLists per user, counted per user.
	for i := 1; i < watchlist.MaxLists; i++ {
		if _, err := s.Create(ctx, ann.ID, "l", nil); err != nil {
			t.Fatalf("Create() #%d error: %v", i+1, err)
		}
	}
	_, err = s.Create(ctx, ann.ID, "one too many", nil)
	if !watchlist.IsTooMany(err) || !errors.Is(err, market.ErrConflict) {
		t.Errorf("Create() #%d error = %v, want ErrTooMany", watchlist.MaxLists+1, err)
	}
	if _, err := s.Create(ctx, bob.ID, "bob's", nil); err != nil {
		t.Errorf("Create(bob) while ann is at the cap: %v", err)
	}
	if err := s.Delete(ctx, ann.ID, w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, ann.ID, "room again", nil); err != nil {
		t.Errorf("Create() after a delete frees room: %v", err)
	}
	if list, err := s.List(ctx, ann.ID); err != nil || len(list) != watchlist.MaxLists {
		t.Errorf("List() = %d lists, %v; want %d", len(list), err, watchlist.MaxLists)
	}
}
