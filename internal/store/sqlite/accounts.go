package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/watchlist"
)

// CreateSession stores s (times at ms precision). An unknown user is
// market.ErrNotFound; a hash already stored market.ErrConflict.
func (db *DB) CreateSession(ctx context.Context, s auth.Session) error {
	_, err := db.w.ExecContext(ctx,
		"INSERT INTO sessions (hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
		s.Hash, s.UserID, toMs(s.CreatedAt), toMs(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create session for user %d: %w", s.UserID, translate(err))
	}
	return nil
}

// SessionByHash returns the session whose token hashes to hash, expired or
// not (the caller decides), or market.ErrNotFound.
func (db *DB) SessionByHash(ctx context.Context, hash []byte) (auth.Session, error) {
	s := auth.Session{Hash: hash}
	var created, expires int64
	err := db.r.QueryRowContext(ctx,
		"SELECT user_id, created_at, expires_at FROM sessions WHERE hash = ?", hash).Scan(&s.UserID, &created, &expires)
	if err != nil {
		return auth.Session{}, fmt.Errorf("session by hash: %w", translate(err))
	}
	s.CreatedAt, s.ExpiresAt = fromMs(created), fromMs(expires)
	return s, nil
}

// DeleteSession deletes the session whose token hashes to hash; none is not
// an error.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := db.w.ExecContext(ctx, "DELETE FROM sessions WHERE hash = ?", hash); err != nil {
		return fmt.Errorf("delete session: %w", translate(err))
	}
	return nil
}

// DeleteExpiredSessions deletes the sessions that expired at or before
// now and returns how many. The retention janitor calls it; Redis needs no
// such sweep.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at <= ?", toMs(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", translate(err))
	}
	return n, nil
}

const watchlistCols = "id, user_id, name, symbols, created_at, updated_at"

// CreateWatchlist stores w unless its user already has maxLists lists
// (watchlist.ErrTooMany); the count and the insert are one statement on
// the single writer connection, so concurrent creates cannot overshoot.
// An unknown user is market.ErrNotFound.
func (db *DB) CreateWatchlist(ctx context.Context, w watchlist.Watchlist, maxLists int) (watchlist.Watchlist, error) {
	w.CreatedAt, w.UpdatedAt = roundMs(w.CreatedAt), roundMs(w.UpdatedAt)
	if w.Symbols == nil {
		w.Symbols = []string{}
	}
	syms, err := json.Marshal(w.Symbols)
	if err != nil {
		return watchlist.Watchlist{}, fmt.Errorf("create watchlist: %w", err)
	}
	err = db.w.QueryRowContext(ctx, `INSERT INTO watchlists (user_id, name, symbols, created_at, updated_at)
		SELECT ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM watchlists WHERE user_id = ?) < ?
		RETURNING id`,
		w.UserID, w.Name, string(syms), toMs(w.CreatedAt), toMs(w.UpdatedAt), w.UserID, maxLists).Scan(&w.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return watchlist.Watchlist{}, fmt.Errorf("create watchlist for user %d: %w", w.UserID, watchlist.ErrTooMany)
	}
	if err != nil {
		return watchlist.Watchlist{}, fmt.Errorf("create watchlist for user %d: %w", w.UserID, translate(err))
	}
	return w, nil
}

// Watchlist returns list id if userID owns it, else market.ErrNotFound.
func (db *DB) Watchlist(ctx context.Context, userID, id int64) (watchlist.Watchlist, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+watchlistCols+" FROM watchlists WHERE id = ? AND user_id = ?", id, userID)
	if err != nil {
		return watchlist.Watchlist{}, fmt.Errorf("watchlist %d: %w", id, translate(err))
	}
	ws, err := scanWatchlists(rows)
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
	rows, err := db.r.QueryContext(ctx, "SELECT "+watchlistCols+" FROM watchlists WHERE user_id = ? ORDER BY id", userID)
	if err != nil {
		return nil, fmt.Errorf("list watchlists of user %d: %w", userID, translate(err))
	}
	ws, err := scanWatchlists(rows)
	if err != nil {
		return nil, fmt.Errorf("list watchlists of user %d: %w", userID, err)
	}
	return ws, nil
}

// UpdateWatchlist replaces the name, symbols and updated_at of list w.ID if
// w.UserID owns it (else market.ErrNotFound) and returns it as stored.
func (db *DB) UpdateWatchlist(ctx context.Context, w watchlist.Watchlist) (watchlist.Watchlist, error) {
	if w.Symbols == nil {
		w.Symbols = []string{}
	}
	syms, err := json.Marshal(w.Symbols)
	if err != nil {
		return watchlist.Watchlist{}, fmt.Errorf("update watchlist %d: %w", w.ID, err)
	}
	rows, err := db.w.QueryContext(ctx, "UPDATE watchlists SET name = ?, symbols = ?, updated_at = ? WHERE id = ? AND user_id = ? RETURNING "+watchlistCols,
		w.Name, string(syms), toMs(w.UpdatedAt), w.ID, w.UserID)
	if err != nil {
		return watchlist.Watchlist{}, fmt.Errorf("update watchlist %d: %w", w.ID, translate(err))
	}
	ws, err := scanWatchlists(rows)
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
	res, err := db.w.ExecContext(ctx, "DELETE FROM watchlists WHERE id = ? AND user_id = ?", id, userID)
	if err != nil {
		return fmt.Errorf("delete watchlist %d: %w", id, translate(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete watchlist %d: %w", id, translate(err))
	} else if n == 0 {
		return fmt.Errorf("delete watchlist %d of user %d: %w", id, userID, market.ErrNotFound)
	}
	return nil
}

func scanWatchlists(rows *sql.Rows) ([]watchlist.Watchlist, error) {
	defer rows.Close()
	ws := []watchlist.Watchlist{}
	for rows.Next() {
		var w watchlist.Watchlist
		var syms string
		var created, updated int64
		if err := rows.Scan(&w.ID, &w.UserID, &w.Name, &syms, &created, &updated); err != nil {
			return nil, translate(err)
		}
		if err := json.Unmarshal([]byte(syms), &w.Symbols); err != nil {
			return nil, fmt.Errorf("watchlist %d: symbols column: %w", w.ID, err)
		}
		if w.Symbols == nil {
			w.Symbols = []string{}
		}
		w.CreatedAt, w.UpdatedAt = fromMs(created), fromMs(updated)
		ws = append(ws, w)
	}
	return ws, translate(rows.Err())
}
