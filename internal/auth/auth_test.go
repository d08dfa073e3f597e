package auth_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// fastParams keep tests quick.
var fastParams = argon2id.Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func newService(t testing.TB) (*auth.Service, *sqlite.DB, *clock) {
	t.Helper()
	db := openDB(t)
	c := &clock{t: time.Date(2025, 11, 27, 12, 0, 0, 0, time.UTC)}
	return auth.NewService(db, argon2id.New(fastParams, 2), auth.Config{Now: c.Now}, nil), db, c
}

// openDB opens a fresh migrated SQLite store, closed when t ends.
func openDB(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "auth.db"), nil)
	if err != nil {
		t.Fatalf("sqlite.Open() error: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate() error: %v", err)
	}
	return db
}

func TestCreateUser(t *testing.T) {
	s, db, _ := newService(t)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, "  Ann@Example.COM ", "0123456789")
	if err != nil {
		t.Fatalf("CreateUser() error: %v", err)
	}
	if u.Email != "ann@example.com" || u.ID == 0 || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("CreateUser() = %+v, want normalised email, an id and an argon2id hash", u)
	}
	stored, err := db.UserByEmail(ctx, "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(u, stored); diff != "" {
		t.Errorf("stored user (-created +stored):\n%s", diff)
	}
	if _, err := s.CreateUser(ctx, "ANN@example.com", "0123456789x"); !errors.Is(err, market.ErrConflict) {
		t.Errorf("CreateUser(same email, other case) error = %v, want ErrConflict", err)
	}

	tests := []struct {
		name, email, password string
		want                  error
	}{
		{"short password", "b@example.com", "012345678", market.ErrInvalid},
		{"ten runes", "c@example.com", "päßwörd-12", nil},
		{"too long", "d@example.com", strings.Repeat("x", auth.MaxPasswordLen+1), market.ErrInvalid},
		{"no password", "e@example.com", "", nil},
		{"empty email", "", "0123456789", market.ErrInvalid},
		{"no at", "example.com", "0123456789", market.ErrInvalid},
		{"display name", "Eve <eve@example.com>", "0123456789", market.ErrInvalid},
		{"no domain dot", "eve@localhost", "0123456789", market.ErrInvalid},
		{"two ats", "a@b@example.com", "0123456789", market.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateUser(ctx, tc.email, tc.password)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("CreateUser(%q, %q) error = %v, want %v", tc.email, tc.password, err, tc.want)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	s, _, _ := newService(t)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, "ann@example.com", "0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "keys-only@example.com", ""); err != nil {
		t.Fatal(err)
	}
	got, err := s.Login(ctx, " ANN@example.com", "0123456789")
	if err != nil || got.ID != u.ID {
		t.Errorf("Login(right password) = %+v, %v; want user %d", got, err, u.ID)
	}
	for _, tc := range []struct{ email, password string }{
		{"ann@example.com", "0123456788"},
		{"ann@example.com", ""},
		{"nobody@example.com", "0123456789"},
		{"keys-only@example.com", ""},
		{"keys-only@example.com", "0123456789"},
		{"not an email", "0123456789"},
	} {
		if _, err := s.Login(ctx, tc.email, tc.password); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("Login(%q, %q) error = %v, want ErrUnauthenticated", tc.email, tc.password, err)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	s, _, clk := newService(t)
	ctx := t.Context()
	ann, err := s.CreateUser(ctx, "ann@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateUser(ctx, "bob@example.com", "")
	if err != nil {
		t.Fatal(err)
	}

	secret, key, err := s.CreateAPIKey(ctx, ann.ID, " laptop ")
	if err != nil {
		t.Fatalf("CreateAPIKey() error: %v", err)
	}
	if !regexp.MustCompile(`^fd_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Errorf("secret %q is not fd_ + 43 base64url characters", secret)
	}
	sum := sha256.Sum256([]byte(secret))
	want := auth.APIKey{ID: key.ID, UserID: ann.ID, Name: "laptop", Prefix: secret[:11], Hash: sum[:], CreatedAt: clk.Now()}
	if diff := gocmp.Diff(want, key); diff != "" {
		t.Errorf("CreateAPIKey() key (-want +got):\n%s", diff)
	}
	secret2, _, err := s.CreateAPIKey(ctx, ann.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if secret2 == secret {
		t.Error("two keys share a secret")
	}
	if _, _, err := s.CreateAPIKey(ctx, ann.ID+bob.ID+100, "x"); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("CreateAPIKey(unknown user) error = %v, want ErrNotFound", err)
	}
	for _, name := range []string{"", "   ", strings.Repeat("n", 101)} {
		if _, _, err := s.CreateAPIKey(ctx, ann.ID, name); !errors.Is(err, market.ErrInvalid) {
			t.Errorf("CreateAPIKey(name %q) error = %v, want ErrInvalid", name, err)
		}
	}

	wantP := auth.Principal{UserID: ann.ID, APIKeyID: key.ID}
	for _, bearer := range []string{secret, "Bearer " + secret, "bearer  " + secret + " "} {
		p, err := s.Authenticate(ctx, bearer)
		if err != nil || p != wantP {
			t.Errorf("Authenticate(%q) = %+v, %v; want %+v", bearer, p, err, wantP)
		}
	}
	unknown := "fd_" + strings.Repeat("A", 43)
	for _, bearer := range []string{"", "Bearer ", unknown, secret[:len(secret)-1], secret + "A", "fd_" + strings.Repeat("!", 43), strings.ToUpper(secret)} {
		if _, err := s.Authenticate(ctx, bearer); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) error = %v, want ErrUnauthenticated", bearer, err)
		}
	}

	// Use is recorded at most once per TouchEvery (default one minute).
	lastUsed := func() *time.Time {
		keys, err := s.ListAPIKeys(ctx, ann.ID)
		if err != nil || len(keys) != 2 {
			t.Fatalf("ListAPIKeys() = %v, %v", keys, err)
		}
		return keys[0].LastUsedAt
	}
	first := clk.Now()
	if got := lastUsed(); got == nil || !got.Equal(first) {
		t.Errorf("LastUsedAt = %v, want %v", got, first)
	}
	clk.Add(30 * time.Second)
	s.Authenticate(ctx, secret)
	if got := lastUsed(); got == nil || !got.Equal(first) {
		t.Errorf("LastUsedAt 30 s later = %v, want still %v", got, first)
	}
	clk.Add(31 * time.Second)
	s.Authenticate(ctx, secret)
	if got := lastUsed(); got == nil || !got.Equal(clk.Now()) {
		t.Errorf("LastUsedAt 61 s later = %v, want %v", got, clk.Now())
	}

	// Revocation: only the owner, and it takes effect at once.
	if err := s.DeleteAPIKey(ctx, bob.ID, key.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("DeleteAPIKey(bob, ann's key) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Authenticate(ctx, secret); err != nil {
		t.Errorf("Authenticate() after a refused delete: %v", err)
	}
	if err := s.DeleteAPIKey(ctx, ann.ID, key.ID); err != nil {
		t.Fatalf("DeleteAPIKey() error: %v", err)
	}
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate(revoked) error = %v, want ErrUnauthenticated", err)
	}
	if p, err := s.Authenticate(ctx, secret2); err != nil || p.UserID != ann.ID {
		t.Errorf("Authenticate(other key) = %+v, %v", p, err)
	}
}

func TestAuthenticateStoreDown(t *testing.T) {
	s, db, _ := newService(t)
	ann, err := s.CreateUser(t.Context(), "ann@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.CreateAPIKey(t.Context(), ann.ID, "k")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = s.Authenticate(context.Background(), secret)
	if err == nil || errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate() with the store closed = %v, want an error other than ErrUnauthenticated", err)
	}
}
