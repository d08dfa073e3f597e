package auth

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
)

// Every secret findash hands out (API keys "fd_", sessions "fds_", account
// tokens "fdt_") is a prefix naming its kind and 32 random bytes in
// unpadded base64url (43 characters).
const (
	tokenSecretLen  = 32
	tokenEncodedLen = 43
)

// newToken returns prefix and 32 fresh random bytes, encoded.
func newToken(prefix string) string {
	b := make([]byte, tokenSecretLen)
	rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// wellFormedToken reports whether s is shaped like a secret of prefix's
// kind, so junk is refused before touching a store.
func wellFormedToken(s, prefix string) bool {
	if len(s) != len(prefix)+tokenEncodedLen || !strings.HasPrefix(s, prefix) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(prefix):])
	return err == nil && len(b) == tokenSecretLen
}
