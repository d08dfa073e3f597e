package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/findash/findash/internal/market"
)

// MaxAPIKeys is how many API keys one user may hold
// (docs/reference/http.md), as watchlists, alerts and holdings are capped:
// without it one session could add a key per request without end, and
// GET /api/v1/apikeys (never paginated) would grow with them.
const MaxAPIKeys = 100

// ErrTooManyKeys means the user already holds MaxAPIKeys keys. It matches
// market.ErrConflict.
var ErrTooManyKeys = fmt.Errorf("too many api keys (at most %d per user): %w", MaxAPIKeys, market.ErrConflict)

// IsTooManyKeys reports whether err says the user holds too many keys.
func IsTooManyKeys(err error) bool { return errors.Is(err, ErrTooManyKeys) }

// API key format: "fd_" + 32 random bytes in unpadded base64url (43
// characters), 46 characters in all.
const (
	keyPrefix = "fd_"
	// keyShownLen is how much of a key is kept in clear (APIKey.Prefix) so a
	// user can tell keys apart: "fd_" and 8 characters, 48 bits — useless
	// for guessing the other 208.
	keyShownLen = len(keyPrefix) + 8
)

// newKeySecret returns a fresh API key secret.
func newKeySecret() (string, error) { return newToken(keyPrefix), nil }

// wellFormedKey reports whether s looks like an API key, so junk is refused
// before touching the store.
func wellFormedKey(s string) bool { return wellFormedToken(s, keyPrefix) }

// hashKey returns the SHA-256 of the whole secret. A fast hash is right
// here, unlike for passwords: the secret has 256 bits of entropy, so there
// is nothing to brute-force, and a fast hash keeps authenticating every
// request cheap. Looking the key up by its hash (an equality match on a
// unique index) also leaks nothing useful through timing.
func hashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
