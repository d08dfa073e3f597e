package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/portfolio"
)

const holdingCols = "id, user_id, symbol, quantity, cost_basis, created_at, updated_at"

// CreateHolding stores h unless its user already has max holdings
// (portfolio.ErrTooMany; count and insert are one statement on the single
// writer connection) or one of its symbol (market.ErrConflict). An unknown
// user is market.ErrNotFound.
func (db *DB) CreateHolding(ctx context.Context, h portfolio.Holding, max int) (portfolio.Holding, error) {
	h.CreatedAt, h.UpdatedAt = roundMs(h.CreatedAt), roundMs(h.UpdatedAt)
	err := db.w.QueryRowContext(ctx, `INSERT INTO holdings (user_id, symbol, quantity, cost_basis, created_at, updated_at)
		SELECT ?, ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM holdings WHERE user_id = ?) < ?
		RETURNING id`,
		h.UserID, h.Symbol, h.Quantity, h.CostBasis, toMs(h.CreatedAt), toMs(h.UpdatedAt), h.UserID, max).Scan(&h.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return portfolio.Holding{}, fmt.Errorf("create holding for user %d: %w", h.UserID, portfolio.ErrTooMany)
	}
	if err != nil {
		return portfolio.Holding{}, fmt.Errorf("create holding for user %d: %w", h.UserID, translate(err))
	}
	return h, nil
}

// Holdings returns userID's holdings ordered by symbol; none is empty.
func (db *DB) Holdings(ctx context.Context, userID int64) ([]portfolio.Holding, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+holdingCols+" FROM holdings WHERE user_id = ? ORDER BY symbol", userID)
	if err != nil {
		return nil, fmt.Errorf("holdings of user %d: %w", userID, translate(err))
	}
	hs, err := scanHoldings(rows)
	if err != nil {
		return nil, fmt.Errorf("holdings of user %d: %w", userID, err)
	}
	return hs, nil
}

// UpdateHolding replaces the quantity, cost basis and updated_at of
// holding h.ID if h.UserID owns it (else market.ErrNotFound).
func (db *DB) UpdateHolding(ctx context.Context, h portfolio.Holding) (portfolio.Holding, error) {
	rows, err := db.w.QueryContext(ctx,
		"UPDATE holdings SET quantity = ?, cost_basis = ?, updated_at = ? WHERE id = ? AND user_id = ? RETURNING "+holdingCols,
		h.Quantity, h.CostBasis, toMs(h.UpdatedAt), h.ID, h.UserID)
	if err != nil {
		return portfolio.Holding{}, fmt.Errorf("update holding %d: %w", h.ID, translate(err))
	}
	hs, err := scanHoldings(rows)
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
	res, err := db.w.ExecContext(ctx, "DELETE FROM holdings WHERE id = ? AND user_id = ?", id, userID)
	if err != nil {
		return fmt.Errorf("delete holding %d: %w", id, translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete holding %d of user %d: %w", id, userID, market.ErrNotFound)
	}
	return nil
}

func scanHoldings(rows *sql.Rows) ([]portfolio.Holding, error) {
	defer rows.Close()
	out := []portfolio.Holding{}
	for rows.Next() {
		var h portfolio.Holding
		var created, updated int64
		if err := rows.Scan(&h.ID, &h.UserID, &h.Symbol, &h.Quantity, &h.CostBasis, &created, &updated); err != nil {
			return nil, translate(err)
		}
		h.CreatedAt, h.UpdatedAt = fromMs(created), fromMs(updated)
		out = append(out, h)
	}
	return out, translate(rows.Err())
}
