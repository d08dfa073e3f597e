package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/watchlist"
)

// Sessions and watchlists (migration 00002_accounts.sql) have the same
// methods and semantics as store/sqlite's, checked by storetest.RunAccounts.
// Like the other account data they are read and written on the primary only:
// a session created at login authenticates the very next request, a list
// just saved is listed at once (read-your-writes).

// CreateSession stores s (times at ms precision). An unknown user is
// market.ErrNotFound; a hash already stored market.ErrConflict.
func (db *DB) CreateSession(ctx context.Context, s auth.Session) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	_, err := db.primary.Exec(ctx,
		"INSERT INTO sessions (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
		s.Hash, s.UserID, roundMs(s.CreatedAt), roundMs(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create session for user %d: %w", s.UserID, translate(err))
	}
	return nil
}

// SessionByHash returns the session whose token hashes to hash, expired or
// not (the caller decides), or market.ErrNotFound. It reads the primary.
func (db *DB) SessionByHash(ctx context.Context, hash []byte) (auth.Session, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	s := auth.Session{Hash: hash}
	err := db.primary.QueryRow(ctx,
		"SELECT user_id, created_at, expires_at FROM sessions WHERE hash = $1", hash).Scan(&s.UserID, &s.CreatedAt, &s.ExpiresAt)
	if err != nil {
		return auth.Session{}, fmt.Errorf("session by hash: %w", translate(err))
	}
	s.CreatedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.ExpiresAt.UTC()
	return s, nil
}

// DeleteSession deletes the session whose token hashes to hash; none is not
// an error.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	if _, err := db.primary.Exec(ctx, "DELETE FROM sessions WHERE hash = $1", hash); err != nil {
		return fmt.Errorf("delete session: %w", translate(err))
	}
	return nil
}

// DeleteExpiredSessions deletes the sessions that expired at or before now
// (at ms precision) and returns how many. The retention janitor calls it.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tag, err := db.primary.Exec(ctx, "DELETE FROM sessions WHERE expires_at <= $1", roundMs(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", translate(err))
	}
	return tag.RowsAffected(), nil
}

const watchlistCols = "id, user_id, name, symbols, created_at, updated_at"

// CreateWatchlist stores w (UserID, Name, Symbols, CreatedAt, UpdatedAt;
// ID is ignored; times at ms precision) unless its user already has
// maxLists lists (an error matching watchlist.ErrTooMany, hence
// market.ErrConflict), and returns it with its new ID. An unknown user is
// market.ErrNotFound.
//
// The cap holds under concurrent creates: one transaction first locks the
// user's row (FOR NO KEY UPDATE, which does not block the foreign-key
// checks of other inserts), then counts and inserts in one statement.
// Under READ COMMITTED that second statement's snapshot is taken after the
// lock is granted, so it sees every list committed by an earlier holder; a
// single statement would not (its snapshot predates the wait).
func (db *DB) CreateWatchlist(ctx context.Context, w watchlist.Watchlist, maxLists int) (watchlist.Watchlist, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	w.CreatedAt, w.UpdatedAt = roundMs(w.CreatedAt), roundMs(w.UpdatedAt)
	if w.Symbols == nil {
		w.Symbols = []string{} // pgx sends a nil slice as NULL
	}
	err := pgx.BeginFunc(ctx, db.primary, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", w.UserID).Scan(&one); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		err := tx.QueryRow(ctx, `INSERT INTO watchlists (user_id, name, symbols, created_at, updated_at)
			SELECT $1, $2, $3, $4, $5 WHERE (SELECT count(*) FROM watchlists WHERE user_id = $1) < $6
			RETURNING id`,
			w.UserID, w.Name, w.Symbols, w.CreatedAt, w.UpdatedAt, maxLists).Scan(&w.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return watchlist.ErrTooMany
		}
		return err
	})
	// Translated once, here: errors of the statements and of BEGIN/COMMIT.
	if err != nil {
		return watchlist.Watchlist{}, fmt.Errorf("create watchlist for user %d: %w", w.UserID, translate(err))
	}
	return w, nil
}

// Watchlist returns list id if userID owns it, else market.ErrNotFound.
func (db *DB) Watchlist(ctx context.Context, userID, id int64) (watchlist.Watchlist, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	ws, err := collect(ctx, db.primary, rowToWatchlist, "SELECT "+watchlistCols+" FROM watchlists WHERE id = $1 AND user_id = $2", id, userID)
	if err != nil {
		return watchlist.Watchlist{}, fmt.Errorf("watchlist %d: %w", id, err)
	}
	if len(ws) == 0 {
		return watchlist.Watchlist{}, fmt.Errorf("watchlist %d of user %d: %w", id, userID, market.ErrNotFound)
	}
	return ws[0], nil
}

// ListWatchlists returns userID's lists, oldest first; none is an empty slice.
func (db *DB) ListWatchlists(ctx context.Context, userID int64) ([]watchlist.Watchlist, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	ws, err := collect(ctx, db.primary, rowToWatchlist, "SELECT "+watchlistCols+" FROM watchlists WHERE user_id = $1 ORDER BY id", userID)
	if err != nil {
		return nil, fmt.Errorf("list watchlists of user %d: %w", userID, err)
	}
	return ws, nil
}

// UpdateWatchlist replaces the name, symbols and updated_at (ms precision)
// of list w.ID if w.UserID owns it (else market.ErrNotFound) and returns it
// as stored.
func (db *DB) UpdateWatchlist(ctx context.Context, w watchlist.Watchlist) (watchlist.Watchlist, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	if w.Symbols == nil {
		w.Symbols = []string{} // pgx sends a nil slice as NULL
	}
	ws, err := collect(ctx, db.primary, rowToWatchlist,
		"UPDATE watchlists SET name = $1, symbols = $2, updated_at = $3 WHERE id = $4 AND user_id = $5 RETURNING "+watchlistCols,
		w.Name, w.Symbols, roundMs(w.UpdatedAt), w.ID, w.UserID)
	if err != nil {
		return watchlist.Watchlist{}, fmt.Errorf("update watchlist %d: %w", w.ID, err)
	}
	if len(ws) == 0 {
		return watchlist.Watchlist{}, fmt.Errorf("update watchlist %d of user %d: %w", w.ID, w.UserID, market.ErrNotFound)
	}
	return ws[0], nil
}

// DeleteWatchlist deletes list id if userID owns it; otherwise it is
// market.ErrNotFound and nothing changes.
func (db *DB) DeleteWatchlist(ctx context.Context, userID, id int64) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tag, err := db.primary.Exec(ctx, "DELETE FROM watchlists WHERE id = $1 AND user_id = $2", id, userID)
	if err != nil {
		return fmt.Errorf("delete watchlist %d: %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete watchlist %d of user %d: %w", id, userID, market.ErrNotFound)
	}
	return nil
}

// rowToWatchlist converts a row of watchlistCols, matched to
// watchlist.Watchlist's fields by name.
func rowToWatchlist(row pgx.CollectableRow) (watchlist.Watchlist, error) {
	w, err := pgx.RowToStructByName[watchlist.Watchlist](row)
	if err != nil {
		return watchlist.Watchlist{}, err
	}
	w.Symbols, w.CreatedAt, w.UpdatedAt = nonNil(w.Symbols), w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	return w, nil
}
