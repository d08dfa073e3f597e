package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/findash/findash/internal/market"
)

// Config tunes a Service.
type Config struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TouchEvery is how stale an API key's LastUsedAt may get before
	// Authenticate writes it again (one write per key per period, not per
	// request). Zero means one minute; negative disables touching.
	TouchEvery time.Duration
}

// Service creates users and API keys and authenticates bearer tokens.
// Safe for concurrent use.
type Service struct {
	store  Store
	hasher *Hasher
	now    func() time.Time
	touch  time.Duration
	log    *slog.Logger
	// dummy is a valid hash checked against when a user is unknown or has
	// no password, so a login's timing does not tell which. Guarded by mu.
	mu    sync.Mutex
	dummy string
}

// NewService returns a Service over store, hashing passwords with hasher.
func NewService(store Store, hasher *Hasher, cfg Config, log *slog.Logger) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TouchEvery == 0 {
		cfg.TouchEvery = time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, hasher: hasher, now: cfg.Now, touch: cfg.TouchEvery, log: log.With("component", "auth")}
}

// NormalizeEmail trims and lower-cases email and checks it is a bare
// address (no display name, at most 254 bytes). A bad address is a
// *market.ValidationError for field "email".
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" || len(e) > 254 {
		return "", market.Invalid("email", "must be an e-mail address of at most 254 characters")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", market.Invalid("email", "%q is not an e-mail address", truncate(e, 64))
	}
	return e, nil
}

// CheckPassword returns a *market.ValidationError for field "password" when
// password is shorter than MinPasswordLen characters or longer than
// MaxPasswordLen bytes.
func CheckPassword(password string) error {
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return market.Invalid("password", "must be at least %d characters", MinPasswordLen)
	}
	if len(password) > MaxPasswordLen {
		return market.Invalid("password", "must be at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// CreateUser creates a user. The email is normalised (NormalizeEmail). An
// empty password creates a user who cannot log in with a password (an
// operator's `findash user create` for a user that only uses API keys);
// otherwise the password must pass CheckPassword. Invalid input matches
// market.ErrInvalid, an email already registered market.ErrConflict.
func (s *Service) CreateUser(ctx context.Context, email, password string) (User, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	u := User{Email: e, CreatedAt: s.now().UTC()}
	if password != "" {
		if err := CheckPassword(password); err != nil {
			return User{}, fmt.Errorf("create user: %w", err)
		}
		if u.PasswordHash, err = s.hasher.Hash(ctx, password); err != nil {
			return User{}, fmt.Errorf("create user: %w", err)
		}
	}
	u, err = s.store.CreateUser(ctx, u)
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", e, err)
	}
	return u, nil
}

// Login checks an email and password and returns the user. A wrong
// password, an unknown email or a user without a password all match
// ErrUnauthenticated, and take about as long.
func (s *Service) Login(ctx context.Context, email, password string) (User, error) {
	e, err := NormalizeEmail(email)
	if err != nil || len(password) > MaxPasswordLen {
		return User{}, fmt.Errorf("login: %w", ErrUnauthenticated)
	}
	u, err := s.store.UserByEmail(ctx, e)
	switch {
	case errors.Is(err, market.ErrNotFound):
		u = User{}
	case err != nil:
		return User{}, fmt.Errorf("login: %w", err)
	}
	hash := u.PasswordHash
	if hash == "" {
		hash = s.dummyHash(ctx)
	}
	ok, err := s.hasher.Verify(ctx, password, hash)
	if err != nil {
		if ctx.Err() != nil {
			return User{}, fmt.Errorf("login: %w", err)
		}
		s.log.Error("stored password hash unusable", "user_id", u.ID, "err", err)
		return User{}, fmt.Errorf("login: %w", ErrUnauthenticated)
	}
	if !ok || u.PasswordHash == "" {
		return User{}, fmt.Errorf("login: %w", ErrUnauthenticated)
	}
	return u, nil
}

// dummyHash returns a hash with the hasher's parameters, computed on first
// use. Concurrent first calls may each compute one; any of them will do.
func (s *Service) dummyHash(ctx context.Context) string {
	s.mu.Lock()
	d := s.dummy
	s.mu.Unlock()
	if d != "" {
		return d
	}
	h, err := s.hasher.Hash(ctx, "findash-no-such-user")
	if err != nil {
		// Only a cancelled ctx gets here; Verify fails on it too.
		return "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA"
	}
	s.mu.Lock()
	s.dummy = h
	s.mu.Unlock()
	return h
}

// User returns the user with id, or an error matching market.ErrNotFound.
func (s *Service) User(ctx context.Context, id int64) (User, error) {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("user: %w", err)
	}
	return u, nil
}

// CreateAPIKey creates an API key named name (1–100 characters, after
// trimming) for userID and returns its secret — shown to the user once and
// never stored — with the stored key. An unknown user matches
// market.ErrNotFound, a bad name market.ErrInvalid.
func (s *Service) CreateAPIKey(ctx context.Context, userID int64, name string) (secret string, key APIKey, err error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n == 0 || n > 100 || !utf8.ValidString(name) {
		return "", APIKey{}, fmt.Errorf("create api key: %w", market.Invalid("name", "must be 1 to 100 characters"))
	}
	secret, err = newKeySecret()
	if err != nil {
		return "", APIKey{}, fmt.Errorf("create api key: %w", err)
	}
	key, err = s.store.CreateAPIKey(ctx, APIKey{
		UserID: userID, Name: name, Prefix: secret[:keyShownLen], Hash: hashKey(secret), CreatedAt: s.now().UTC(),
	})
	if err != nil {
		return "", APIKey{}, fmt.Errorf("create api key for user %d: %w", userID, err)
	}
	return secret, key, nil
}

// ListAPIKeys returns userID's keys, oldest first.
func (s *Service) ListAPIKeys(ctx context.Context, userID int64) ([]APIKey, error) {
	keys, err := s.store.ListAPIKeys(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// DeleteAPIKey revokes key id of userID at once. A key that does not exist
// or belongs to someone else matches market.ErrNotFound.
func (s *Service) DeleteAPIKey(ctx context.Context, userID, id int64) error {
	if err := s.store.DeleteAPIKey(ctx, userID, id); err != nil {
		return fmt.Errorf("delete api key: %w", err)
	}
	return nil
}

// Authenticate resolves a bearer token (with or without a leading
// "Bearer ") to a Principal. Today it accepts API keys; session tokens come
// later. A missing, malformed, unknown or revoked token matches
// ErrUnauthenticated; a store failure is returned as such (not as
// ErrUnauthenticated), so callers can answer 503 rather than 401.
func (s *Service) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	token := strings.TrimSpace(bearer)
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	if !wellFormedKey(token) {
		return Principal{}, fmt.Errorf("authenticate: %w", ErrUnauthenticated)
	}
	k, err := s.store.APIKeyByHash(ctx, hashKey(token))
	if errors.Is(err, market.ErrNotFound) {
		return Principal{}, fmt.Errorf("authenticate: %w", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if now := s.now(); s.touch > 0 && (k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) >= s.touch) {
		// Best effort: a failed touch must not fail the request.
		if err := s.store.TouchAPIKey(ctx, k.ID, now); err != nil {
			s.log.Warn("record api key use", "api_key_id", k.ID, "err", err)
		}
	}
	return Principal{UserID: k.UserID, APIKeyID: k.ID}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
