package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
)

// PutAccountToken stores t and deletes the user's other tokens of the same
// purpose (one working link of each kind). An unknown user is
// market.ErrNotFound.
func (db *DB) PutAccountToken(ctx context.Context, t auth.AccountToken) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, db.primary, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2", t.UserID, string(t.Purpose)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			"INSERT INTO account_tokens (hash, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
			t.Hash, t.UserID, string(t.Purpose), roundMs(t.CreatedAt), roundMs(t.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("put account token for user %d: %w", t.UserID, translate(err))
	}
	return nil
}

// TakeAccountToken deletes the token of hash and purpose and returns it;
// none, or one expired at now, is market.ErrNotFound (an expired one is
// deleted too).
func (db *DB) TakeAccountToken(ctx context.Context, hash []byte, purpose auth.TokenPurpose, now time.Time) (auth.AccountToken, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	t := auth.AccountToken{Hash: hash, Purpose: purpose}
	err := db.primary.QueryRow(ctx,
		"DELETE FROM account_tokens WHERE hash = $1 AND purpose = $2 RETURNING user_id, created_at, expires_at",
		hash, string(purpose)).Scan(&t.UserID, &t.CreatedAt, &t.ExpiresAt)
	if err != nil {
		return auth.AccountToken{}, fmt.Errorf("take account token: %w", translate(err))
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	if !now.Before(t.ExpiresAt) {
		return auth.AccountToken{}, fmt.Errorf("take account token: expired: %w", market.ErrNotFound)
	}
	return t, nil
}

// MarkEmailVerified sets the user's email_verified_at unless set. An
// unknown user is market.ErrNotFound.
func (db *DB) MarkEmailVerified(ctx context.Context, userID int64, at time.Time) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tag, err := db.primary.Exec(ctx, "UPDATE users SET email_verified_at = coalesce(email_verified_at, $1) WHERE id = $2", roundMs(at), userID)
	if err != nil {
		return fmt.Errorf("mark e-mail verified: %w", translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("mark e-mail of user %d verified: %w", userID, market.ErrNotFound)
	}
	return nil
}

// SetPassword replaces the user's password hash, marks the address
// verified, and deletes the user's sessions and reset tokens, in one
// transaction. An unknown user is market.ErrNotFound.
func (db *DB) SetPassword(ctx context.Context, userID int64, hash string, at time.Time) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, db.primary, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			"UPDATE users SET password_hash = $1, email_verified_at = coalesce(email_verified_at, $2) WHERE id = $3", hash, roundMs(at), userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return market.ErrNotFound
		}
		if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE user_id = $1", userID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = 'reset'", userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password of user %d: %w", userID, translate(err))
	}
	return nil
}

// ListSessions returns userID's sessions not expired at now, newest first.
func (db *DB) ListSessions(ctx context.Context, userID int64, now time.Time) ([]auth.Session, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	ss, err := collect(ctx, db.primary, func(row pgx.CollectableRow) (auth.Session, error) {
		s := auth.Session{UserID: userID}
		err := row.Scan(&s.Hash, &s.CreatedAt, &s.ExpiresAt)
		s.CreatedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.ExpiresAt.UTC()
		return s, err
	}, "SELECT hash, created_at, expires_at FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, hash", userID, now)
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
	}
	return ss, nil
}
