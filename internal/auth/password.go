package auth

import "context"

// Password length bounds, in characters (runes) for the minimum and bytes
// for the maximum (which only keeps hashing cost bounded).
const (
	MinPasswordLen = 10
	MaxPasswordLen = 1024
)

// PasswordHasher hashes passwords for storage and checks a password against
// a stored hash (*argon2id.Hasher; cmd/findash wires it). It is declared
// here so that nothing importing auth links the hashing library.
type PasswordHasher interface {
	// Hash returns password's hash as a self-describing string (the PHC
	// format), salted afresh on every call.
	Hash(ctx context.Context, password string) (string, error)
	// Verify reports whether password matches encoded, in constant time;
	// a malformed hash is an error, not a mismatch.
	Verify(ctx context.Context, password, encoded string) (bool, error)
}
