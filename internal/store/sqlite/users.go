package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
)

// Times are stored as ms since epoch, UTC; what is returned is what was
// stored, so a value read back equals the one a Create returned.
func toMs(t time.Time) int64        { return t.UnixMilli() }
func fromMs(ms int64) time.Time     { return time.UnixMilli(ms).UTC() }
func roundMs(t time.Time) time.Time { return fromMs(toMs(t)) }

// CreateUser stores u (Email, PasswordHash, CreatedAt; ID is ignored) and
// returns it with its new ID and CreatedAt as stored (ms precision, UTC).
// An email already taken is market.ErrConflict. Emails are compared
// byte-for-byte; normalising them is the caller's job.
func (db *DB) CreateUser(ctx context.Context, u auth.User) (auth.User, error) {
	u.CreatedAt = roundMs(u.CreatedAt)
	var verified sql.NullInt64
	if u.EmailVerifiedAt != nil {
		t := roundMs(*u.EmailVerifiedAt)
		u.EmailVerifiedAt, verified = &t, sql.NullInt64{Int64: toMs(t), Valid: true}
	}
	err := db.w.QueryRowContext(ctx,
		"INSERT INTO users (email, password_hash, created_at, email_verified_at) VALUES (?, ?, ?, ?) RETURNING id",
		u.Email, u.PasswordHash, toMs(u.CreatedAt), verified).Scan(&u.ID)
	if err != nil {
		return auth.User{}, fmt.Errorf("create user: %w", translate(err))
	}
	return u, nil
}

// UserByEmail returns the user with exactly this email, or market.ErrNotFound.
func (db *DB) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx,
		"SELECT id, email, password_hash, created_at, email_verified_at FROM users WHERE email = ?", email))
	if err != nil {
		return auth.User{}, fmt.Errorf("user by email: %w", err)
	}
	return u, nil
}

// UserByID returns the user with id, or market.ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id int64) (auth.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx,
		"SELECT id, email, password_hash, created_at, email_verified_at FROM users WHERE id = ?", id))
	if err != nil {
		return auth.User{}, fmt.Errorf("user %d: %w", id, err)
	}
	return u, nil
}

func scanUser(row *sql.Row) (auth.User, error) {
	var u auth.User
	var created int64
	var verified sql.NullInt64
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &created, &verified); err != nil {
		return auth.User{}, translate(err)
	}
	u.CreatedAt = fromMs(created)
	if verified.Valid {
		t := fromMs(verified.Int64)
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
	k.CreatedAt = roundMs(k.CreatedAt)
	k.LastUsedAt = nil
	err := db.w.QueryRowContext(ctx, `INSERT INTO api_keys (user_id, name, prefix, hash, created_at, symbols)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE ?7 <= 0 OR (SELECT count(*) FROM api_keys WHERE user_id = ?1) < ?7
		RETURNING id`,
		k.UserID, k.Name, k.Prefix, k.Hash, toMs(k.CreatedAt), string(k.Symbols), max).Scan(&k.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.APIKey{}, fmt.Errorf("create api key for user %d: %w", k.UserID, auth.ErrTooManyKeys)
	}
	if err != nil {
		return auth.APIKey{}, fmt.Errorf("create api key: %w", translate(err))
	}
	return k, nil
}

// APIKeyByHash returns the key whose secret hashes to hash, or market.ErrNotFound.
func (db *DB) APIKeyByHash(ctx context.Context, hash []byte) (auth.APIKey, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE hash = ?", hash)
	if err != nil {
		return auth.APIKey{}, fmt.Errorf("api key by hash: %w", translate(err))
	}
	keys, err := scanAPIKeys(rows)
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
	rows, err := db.r.QueryContext(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE user_id = ? ORDER BY id", userID)
	if err != nil {
		return nil, fmt.Errorf("list api keys of user %d: %w", userID, translate(err))
	}
	keys, err := scanAPIKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("list api keys of user %d: %w", userID, err)
	}
	return keys, nil
}

func scanAPIKeys(rows *sql.Rows) ([]auth.APIKey, error) {
	defer rows.Close()
	keys := []auth.APIKey{}
	for rows.Next() {
		var k auth.APIKey
		var created int64
		var used sql.NullInt64
		if err := rows.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &created, &used, &k.Symbols); err != nil {
			return nil, translate(err)
		}
		k.CreatedAt = fromMs(created)
		if used.Valid {
			t := fromMs(used.Int64)
			k.LastUsedAt = &t
		}
		keys = append(keys, k)
	}
	return keys, translate(rows.Err())
}

// DeleteAPIKey deletes key id if it belongs to userID; otherwise (unknown
// key, or someone else's) it is market.ErrNotFound and nothing changes.
func (db *DB) DeleteAPIKey(ctx context.Context, userID, id int64) error {
	res, err := db.w.ExecContext(ctx, "DELETE FROM api_keys WHERE id = ? AND user_id = ?", id, userID)
	if err != nil {
		return fmt.Errorf("delete api key %d: %w", id, translate(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete api key %d: %w", id, translate(err))
	} else if n == 0 {
		return fmt.Errorf("delete api key %d of user %d: %w", id, userID, market.ErrNotFound)
	}
	return nil
}

// TouchAPIKey records that key id was used at at (ms precision). An unknown
// key is market.ErrNotFound.
func (db *DB) TouchAPIKey(ctx context.Context, id int64, at time.Time) error {
	res, err := db.w.ExecContext(ctx, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", toMs(at), id)
	if err != nil {
		return fmt.Errorf("touch api key %d: %w", id, translate(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("touch api key %d: %w", id, translate(err))
	} else if n == 0 {
		return fmt.Errorf("touch api key %d: %w", id, market.ErrNotFound)
	}
	return nil
}
