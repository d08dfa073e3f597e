package auth

import (
	"errors"
	"time"

	"github.com/findash/findash/internal/market"
)

// ErrUnauthenticated means a credential was missing, malformed, unknown,
// revoked or wrong. Callers answer 401 and never say which.
var ErrUnauthenticated = errors.New("unauthenticated")

// User is an account. An empty PasswordHash means the user cannot log in
// with a password (e.g. created by `findash user create` only to own API keys).
type User struct {
	ID           int64
	Email        string // normalised: trimmed, lower case
	PasswordHash string // argon2id PHC string, or "" for no password login
	CreatedAt    time.Time
	// EmailVerifiedAt is when the owner proved the address is theirs (the
	// link of a verification or password-reset mail); nil until then.
	// Users created by an operator are verified at creation.
	EmailVerifiedAt *time.Time
}

// APIKey is a stored API key. The secret itself is never stored: Hash is the
// SHA-256 of the full secret string.
type APIKey struct {
	ID         int64
	UserID     int64
	Name       string
	Prefix     string // first characters of the secret, shown to users to tell keys apart
	Hash       []byte // SHA-256 of the secret
	CreatedAt  time.Time
	LastUsedAt *time.Time // nil until first used
	// Symbols are the patterns of the symbols the key may post ticks
	// for (canonical, as market.ParseSymbolPatterns returns them); empty:
	// every symbol.
	Symbols market.SymbolPatterns
}

// Principal is who a request acts for.
type Principal struct {
	UserID   int64
	APIKeyID int64 // 0 when authenticated by a session
	// Symbols are the API key's symbol patterns (APIKey.Symbols): what
	// it may post ticks for. Empty: every symbol.
	Symbols market.SymbolPatterns
	// Session is the session's key (its token's SHA-256, as a string of
	// 32 bytes) when authenticated by a session; "" otherwise. A WS token
	// made for this principal names it (WSToken).
	Session string
	// SessionExpires is when that session expires; zero when the store
	// expires sessions itself and did not say (Redis).
	SessionExpires time.Time
}
