package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/portfolio"
)

const holdingCols = "id, user_id, symbol, quantity, cost_basis, created_at, updated_at"

// CreateHolding stores h unless its user already has max holdings
// (portfolio.ErrTooMany) or one of its symbol (market.ErrConflict). An
// unknown user is market.ErrNotFound. The cap holds under concurrent
// creates as CreateWatchlist's does: the user's row is locked first, then
// count and insert run in a statement whose snapshot follows the lock.
func (db *DB) CreateHolding(ctx context.Context, h portfolio.Holding, max int) (portfolio.Holding, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	h.CreatedAt, h.UpdatedAt = roundMs(h.CreatedAt), roundMs(h.UpdatedAt)
	err := pgx.BeginFunc(ctx, db.primary, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", h.UserID).Scan(&one); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		err := tx.QueryRow(ctx, `INSERT INTO holdings (user_id, symbol, quantity, cost_basis, created_at, updated_at)
			SELECT $1, $2, $3, $4, $5, $6 WHERE (SELECT count(*) FROM holdings WHERE user_id = $1) < $7
			RETURNING id`,
			h.UserID, h.Symbol, h.Quantity, h.CostBasis, h.CreatedAt, h.UpdatedAt, max).Scan(&h.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return portfolio.ErrTooMany
		}
		return err
	})
	if err != nil {
		return portfolio.Holding{}, fmt.Errorf("create holding for user %d: %w", h.UserID, translate(err))
	}
	return h, nil
}

// Holdings returns userID's holdings ordered by symbol; none is empty.
func (db *DB) Holdings(ctx context.Context, userID int64) ([]portfolio.Holding, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	hs, err := collect(ctx, db.primary, rowToHolding, "SELECT "+holdingCols+" FROM holdings WHERE user_id = $1 ORDER BY symbol", userID)
	if err != nil {
		return nil, fmt.Errorf("holdings of user %d: %w", userID, err)
	}
	return hs, nil
}

// UpdateHolding replaces the quantity, cost basis and updated_at of
// holding h.ID if h.UserID owns it (else market.ErrNotFound).
func (db *DB) UpdateHolding(ctx context.Context, h portfolio.Holding) (portfolio.Holding, error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	hs, err := collect(ctx, db.primary, rowToHolding,
		"UPDATE holdings SET quantity = $1, cost_basis = $2, updated_at = $3 WHERE id = $4 AND user_id = $5 RETURNING "+holdingCols,
		h.Quantity, h.CostBasis, roundMs(h.UpdatedAt), h.ID, h.UserID)
	if err != nil {
		return portfolio.Holding{}, fmt.Errorf("update holding %d: %w", h.ID, err)
	}
	if len(hs) == 0 {
		return portfolio.Holding{}, fmt.Errorf("update holding %d of user %d: %w", h.ID, h.UserID, market.ErrNotFound)
	}
	return hs[0], nil
}

// DeleteHolding deletes holding id if userID owns it, else market.ErrNotFound.
func (db *DB) DeleteHolding(ctx context.Context, userID, id int64) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	tag, err := db.primary.Exec(ctx, "DELETE FROM holdings WHERE id = $1 AND user_id = $2", id, userID)
	if err != nil {
		return fmt.Errorf("delete holding %d: %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete holding %d of user %d: %w", id, userID, market.ErrNotFound)
	}
	return nil
}

func rowToHolding(row pgx.CollectableRow) (portfolio.Holding, error) {
	h, err := pgx.RowToStructByName[portfolio.Holding](row)
	if err != nil {
		return portfolio.Holding{}, err
	}
	h.CreatedAt, h.UpdatedAt = h.CreatedAt.UTC(), h.UpdatedAt.UTC()
	return h, nil
}
