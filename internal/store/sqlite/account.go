package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
)

// PutAccountToken stores t and deletes the user's other tokens of the same
// purpose (one working link of each kind). An unknown user is
// market.ErrNotFound.
func (db *DB) PutAccountToken(ctx context.Context, t auth.AccountToken) (err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put account token: begin: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err = tx.ExecContext(ctx, "DELETE FROM account_tokens WHERE user_id = ? AND purpose = ?", t.UserID, string(t.Purpose)); err != nil {
		return fmt.Errorf("put account token: %w", translate(err))
	}
	if _, err = tx.ExecContext(ctx,
		"INSERT INTO account_tokens (hash, user_id, purpose, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		t.Hash, t.UserID, string(t.Purpose), toMs(t.CreatedAt), toMs(t.ExpiresAt)); err != nil {
		return fmt.Errorf("put account token for user %d: %w", t.UserID, translate(err))
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("put account token: commit: %w", translate(err))
	}
	return nil
}

// TakeAccountToken deletes the token of hash and purpose and returns it;
// none, or one expired at now, is market.ErrNotFound (an expired one is
// deleted too).
func (db *DB) TakeAccountToken(ctx context.Context, hash []byte, purpose auth.TokenPurpose, now time.Time) (auth.AccountToken, error) {
	t := auth.AccountToken{Hash: hash, Purpose: purpose}
	var created, expires int64
	err := db.w.QueryRowContext(ctx,
		"DELETE FROM account_tokens WHERE hash = ? AND purpose = ? RETURNING user_id, created_at, expires_at",
		hash, string(purpose)).Scan(&t.UserID, &created, &expires)
	if err != nil {
		return auth.AccountToken{}, fmt.Errorf("take account token: %w", translate(err))
	}
	t.CreatedAt, t.ExpiresAt = fromMs(created), fromMs(expires)
	if !now.Before(t.ExpiresAt) {
		return auth.AccountToken{}, fmt.Errorf("take account token: expired: %w", market.ErrNotFound)
	}
	return t, nil
}

// MarkEmailVerified sets the user's email_verified_at unless set. An
// unknown user is market.ErrNotFound.
func (db *DB) MarkEmailVerified(ctx context.Context, userID int64, at time.Time) error {
	res, err := db.w.ExecContext(ctx, "UPDATE users SET email_verified_at = coalesce(email_verified_at, ?) WHERE id = ?", toMs(at), userID)
	if err != nil {
		return fmt.Errorf("mark e-mail verified: %w", translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("mark e-mail of user %d verified: %w", userID, market.ErrNotFound)
	}
	return nil
}

// SetPassword replaces the user's password hash, marks the address
// verified, and deletes the user's sessions and reset tokens, in one
// transaction. An unknown user is market.ErrNotFound.
func (db *DB) SetPassword(ctx context.Context, userID int64, hash string, at time.Time) (err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set password: begin: %w", translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	res, err := tx.ExecContext(ctx,
		"UPDATE users SET password_hash = ?, email_verified_at = coalesce(email_verified_at, ?) WHERE id = ?", hash, toMs(at), userID)
	if err != nil {
		return fmt.Errorf("set password: %w", translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		err = fmt.Errorf("set password of user %d: %w", userID, market.ErrNotFound)
		return err
	}
	if _, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("set password: end sessions: %w", translate(err))
	}
	if _, err = tx.ExecContext(ctx, "DELETE FROM account_tokens WHERE user_id = ? AND purpose = 'reset'", userID); err != nil {
		return fmt.Errorf("set password: drop reset tokens: %w", translate(err))
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("set password: commit: %w", translate(err))
	}
	return nil
}

// ListSessions returns userID's sessions not expired at now, newest first.
func (db *DB) ListSessions(ctx context.Context, userID int64, now time.Time) ([]auth.Session, error) {
	rows, err := db.r.QueryContext(ctx,
		"SELECT hash, created_at, expires_at FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY created_at DESC, hash",
		userID, toMs(now))
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, translate(err))
	}
	defer rows.Close()
	out := []auth.Session{}
	for rows.Next() {
		s := auth.Session{UserID: userID}
		var created, expires int64
		if err := rows.Scan(&s.Hash, &created, &expires); err != nil {
			return nil, fmt.Errorf("list sessions: %w", translate(err))
		}
		s.CreatedAt, s.ExpiresAt = fromMs(created), fromMs(expires)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", translate(err))
	}
	return out, nil
}
