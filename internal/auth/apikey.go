package auth

import (
	"crypto/sha256"
)

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
