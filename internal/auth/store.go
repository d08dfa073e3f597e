package auth

import (
	"context"
	"time"
)

// Store is the persistence auth needs. Implementations translate their
// errors: a duplicate email or key hash is market.ErrConflict, a missing row
// (or a key owned by someone else, for DeleteAPIKey) market.ErrNotFound.
// Times come back as stored (ms precision, UTC).
type Store interface {
	// CreateUser stores u's Email, PasswordHash and CreatedAt and returns u
	// with its new ID.
	CreateUser(ctx context.Context, u User) (User, error)
	// UserByEmail finds a user by exact (already normalised) email.
	UserByEmail(ctx context.Context, email string) (User, error)
	// UserByID finds a user by id.
	UserByID(ctx context.Context, id int64) (User, error)
	// CreateAPIKey stores k's UserID, Name, Prefix, Hash, CreatedAt and
	// Symbols and returns k with its new ID, unless k.UserID already holds
	// max keys (max > 0): then an error matching ErrTooManyKeys, checked
	// atomically with the insert. An unknown user is market.ErrNotFound.
	CreateAPIKey(ctx context.Context, k APIKey, max int) (APIKey, error)
	// APIKeyByHash finds a key by the SHA-256 of its secret.
	APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	// ListAPIKeys lists userID's keys, oldest first.
	ListAPIKeys(ctx context.Context, userID int64) ([]APIKey, error)
	// DeleteAPIKey deletes key id only if userID owns it.
	DeleteAPIKey(ctx context.Context, userID, id int64) error
	// TouchAPIKey sets the key's LastUsedAt.
	TouchAPIKey(ctx context.Context, id int64, at time.Time) error
}
