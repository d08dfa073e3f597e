package portfolio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/findash/findash/internal/market"
)

// Limits of docs/reference/http.md.
const (
	MaxHoldings = 100  // per user
	MaxQuantity = 1e15 // units of one holding
	MaxPrice    = 1e12 // cost basis per unit
)

// ErrTooMany means the user already has MaxHoldings holdings. It matches
// market.ErrConflict.
var ErrTooMany = fmt.Errorf("too many holdings (at most %d per user): %w", MaxHoldings, market.ErrConflict)

// Holding is a position: Quantity units of Symbol bought at CostBasis per
// unit on average.
type Holding struct {
	ID        int64
	UserID    int64
	Symbol    string
	Quantity  float64
	CostBasis float64 // average price paid per unit
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Store is the persistence holdings need. Every method is scoped to
// userID: another user's holding is market.ErrNotFound. Times come back as
// stored (ms precision, UTC).
type Store interface {
	// CreateHolding stores h unless h.UserID already has max holdings
	// (ErrTooMany, checked atomically with the insert) or one of h.Symbol
	// (market.ErrConflict), and returns it with its ID.
	CreateHolding(ctx context.Context, h Holding, max int) (Holding, error)
	// Holdings returns userID's holdings ordered by symbol.
	Holdings(ctx context.Context, userID int64) ([]Holding, error)
	// UpdateHolding replaces Quantity, CostBasis and UpdatedAt of holding
	// h.ID of h.UserID and returns it as stored.
	UpdateHolding(ctx context.Context, h Holding) (Holding, error)
	// DeleteHolding deletes holding id of userID.
	DeleteHolding(ctx context.Context, userID, id int64) error
}

// Service manages holdings. Safe for concurrent use.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a Service over store; now is the clock (nil: time.Now).
func NewService(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
}

// Validate checks a holding's quantity and cost basis (and its symbol when
// checkSymbol). A broken rule is a *market.ValidationError naming the field.
func Validate(symbol string, quantity, costBasis float64, checkSymbol bool) error {
	if checkSymbol {
		if err := market.CheckSymbol("symbol", symbol); err != nil {
			return err
		}
	}
	if math.IsNaN(quantity) || quantity <= 0 || quantity > MaxQuantity {
		return market.Invalid("quantity", "must be > 0 and at most %g", float64(MaxQuantity))
	}
	if math.IsNaN(costBasis) || costBasis < 0 || costBasis > MaxPrice {
		return market.Invalid("cost_basis", "must be between 0 and %g", float64(MaxPrice))
	}
	return nil
}

// Add creates a holding for userID. Invalid input matches market.ErrInvalid;
// a second holding of a symbol market.ErrConflict; a user at the cap
// ErrTooMany.
func (s *Service) Add(ctx context.Context, userID int64, symbol string, quantity, costBasis float64) (Holding, error) {
	if err := Validate(symbol, quantity, costBasis, true); err != nil {
		return Holding{}, fmt.Errorf("add holding: %w", err)
	}
	now := s.now().UTC()
	h, err := s.store.CreateHolding(ctx, Holding{UserID: userID, Symbol: symbol, Quantity: quantity, CostBasis: costBasis, CreatedAt: now, UpdatedAt: now}, MaxHoldings)
	if err != nil {
		return Holding{}, fmt.Errorf("add holding for user %d: %w", userID, err)
	}
	return h, nil
}

// List returns userID's holdings ordered by symbol.
func (s *Service) List(ctx context.Context, userID int64) ([]Holding, error) {
	hs, err := s.store.Holdings(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list holdings: %w", err)
	}
	return hs, nil
}

// Update replaces the quantity and cost basis of holding id of userID.
func (s *Service) Update(ctx context.Context, userID, id int64, quantity, costBasis float64) (Holding, error) {
	if err := Validate("", quantity, costBasis, false); err != nil {
		return Holding{}, fmt.Errorf("update holding: %w", err)
	}
	h, err := s.store.UpdateHolding(ctx, Holding{ID: id, UserID: userID, Quantity: quantity, CostBasis: costBasis, UpdatedAt: s.now().UTC()})
	if err != nil {
		return Holding{}, fmt.Errorf("update holding: %w", err)
	}
	return h, nil
}

// Delete deletes holding id of userID.
func (s *Service) Delete(ctx context.Context, userID, id int64) error {
	if err := s.store.DeleteHolding(ctx, userID, id); err != nil {
		return fmt.Errorf("delete holding: %w", err)
	}
	return nil
}

// IsTooMany reports whether err says the user has too many holdings.
func IsTooMany(err error) bool { return errors.Is(err, ErrTooMany) }
