package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
)

// Auth reads go to the primary, not a replica: a user who just signed up
// logs in, a key just created is used at once (read-your-writes), and these
// are single-row lookups the primary serves cheaply.

// Times are stored as timestamptz rounded to ms; what is returned is what was
// stored, in UTC, so a value read back equals the one a Create returned.
func roundMs(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// CreateUser stores u (Email, PasswordHash, CreatedAt; ID is ignored) and
// returns it with its new ID and CreatedAt as stored (ms precision, UTC).
// An email already taken is market.ErrConflict. Emails are compared
// byte-for-byte; normalising them is the caller's job.
func (db *DB) CreateUser(ctx context.Context, u auth.User) (auth.User, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	u.CreatedAt = roundMs(u.CreatedAt)
	if u.EmailVerifiedAt != nil {
		t := roundMs(*u.EmailVerifiedAt)
		u.EmailVerifiedAt = &t
	}
	err := db.primary.QueryRow(ctx,
		"INSERT INTO users (email, password_hash, created_at, email_verified_at) VALUES ($1, $2, $3, $4) RETURNING id",
		u.Email, u.PasswordHash, u.CreatedAt, u.EmailVerifiedAt).Scan(&u.ID)
	if err != nil {
		return auth.User{}, fmt.Errorf("create user: %w", translate(err))
	}
	return u, nil
}

// UserByEmail returns the user with exactly this email, or market.ErrNotFound.
func (db *DB) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	u, err := collectOne(ctx, db.primary, rowToUser, "SELECT "+userCols+" FROM users WHERE email = $1", email)
	if err != nil {
		return auth.User{}, fmt.Errorf("user by email: %w", err)
	}
	return u, nil
}

// UserByID returns the user with id, or market.ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id int64) (auth.User, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	u, err := collectOne(ctx, db.primary, rowToUser, "SELECT "+userCols+" FROM users WHERE id = $1", id)
	if err != nil {
		return auth.User{}, fmt.Errorf("user %d: %w", id, err)
	}
	return u, nil
}

const userCols = "id, email, password_hash, created_at, email_verified_at"

// rowToUser converts a row of userCols, matched to auth.User's fields by
// name.
func rowToUser(row pgx.CollectableRow) (auth.User, error) {
	u, err := pgx.RowToStructByName[auth.User](row)
	if err != nil {
		return auth.User{}, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	if u.EmailVerifiedAt != nil {
		t := u.EmailVerifiedAt.UTC()
		u.EmailVerifiedAt = &t
	}
	return u, nil
}

const apiKeyCols = "id, user_id, name, prefix, hash, created_at, last_used_at, symbols"

// CreateAPIKey stores k (UserID, Name, Prefix, Hash, CreatedAt, Symbols;
// ID and LastUsedAt are ignored) and returns it with its new ID and
// CreatedAt as stored, unless its user already holds max keys (max > 0):
// then auth.ErrTooManyKeys, counted and inserted atomically. An unknown
// user is market.ErrNotFound; a hash already stored market.ErrConflict.
func (db *DB) CreateAPIKey(ctx context.Context, k auth.APIKey, max int) (auth.APIKey, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	k.CreatedAt = roundMs(k.CreatedAt)
	k.LastUsedAt = nil
	err := pgx.BeginFunc(ctx, db.primary, func(tx pgx.Tx) error {
		// The user's row lock makes the count and the insert atomic
		// against the user's other creations (an unknown user: no row).
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", k.UserID).Scan(&one); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		err := tx.QueryRow(ctx, `INSERT INTO api_keys (user_id, name, prefix, hash, created_at, symbols)
			SELECT $1, $2, $3, $4, $5, $6 WHERE $7::int <= 0 OR (SELECT count(*) FROM api_keys WHERE user_id = $1) < $7::int
			RETURNING id`,
			k.UserID, k.Name, k.Prefix, k.Hash, k.CreatedAt, string(k.Symbols), max).Scan(&k.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrTooManyKeys
		}
		return err
	})
	if err != nil {
		return auth.APIKey{}, fmt.Errorf("create api key: %w", translate(err))
	}
	return k, nil
}

// APIKeyByHash returns the key whose secret hashes to hash, or market.ErrNotFound.
func (db *DB) APIKeyByHash(ctx context.Context, hash []byte) (auth.APIKey, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	keys, err := collect(ctx, db.primary, rowToAPIKey, "SELECT "+apiKeyCols+" FROM api_keys WHERE hash = $1", hash)
	if err != nil {
		return auth.APIKey{}, fmt.Errorf("api key by hash: %w", err)
	}
	if len(keys) == 0 {
		return auth.APIKey{}, fmt.Errorf("api key by hash: %w", market.ErrNotFound)
	}
	return keys[0], nil
}

// ListAPIKeys returns userID's keys, oldest first; none is an empty slice.
func (db *DB) ListAPIKeys(ctx context.Context, userID int64) ([]auth.APIKey, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	keys, err := collect(ctx, db.primary, rowToAPIKey, "SELECT "+apiKeyCols+" FROM api_keys WHERE user_id = $1 ORDER BY id", userID)
	if err != nil {
		return nil, fmt.Errorf("list api keys of user %d: %w", userID, err)
	}
	return keys, nil
}

// rowToAPIKey converts a row of apiKeyCols, matched to auth.APIKey's
// fields by name.
func rowToAPIKey(row pgx.CollectableRow) (auth.APIKey, error) {
	k, err := pgx.RowToStructByName[auth.APIKey](row)
	if err != nil {
		return auth.APIKey{}, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if k.LastUsedAt != nil {
		u := k.LastUsedAt.UTC()
		k.LastUsedAt = &u
	}
	return k, nil
}

// DeleteAPIKey deletes key id if it belongs to userID; otherwise (unknown
// key, or someone else's) it is market.ErrNotFound and nothing changes.
func (db *DB) DeleteAPIKey(ctx context.Context, userID, id int64) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tag, err := db.primary.Exec(ctx, "DELETE FROM api_keys WHERE id = $1 AND user_id = $2", id, userID)
	if err != nil {
		return fmt.Errorf("delete api key %d: %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete api key %d of user %d: %w", id, userID, market.ErrNotFound)
	}
	return nil
}

// TouchAPIKey records that key id was used at at (ms precision). An unknown
// key is market.ErrNotFound.
func (db *DB) TouchAPIKey(ctx context.Context, id int64, at time.Time) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tag, err := db.primary.Exec(ctx, "UPDATE api_keys SET last_used_at = $1 WHERE id = $2", roundMs(at), id)
	if err != nil {
		return fmt.Errorf("touch api key %d: %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("touch api key %d: %w", id, market.ErrNotFound)
	}
	return nil
}
