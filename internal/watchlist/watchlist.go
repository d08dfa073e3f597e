package watchlist

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/findash/findash/internal/market"
)

// Limits of the watchlists of docs/reference/http.md.
const (
	MaxNameLen = 64  // characters
	MaxSymbols = 200 // per list
	MaxLists   = 50  // per user
)

// ErrTooMany means the user already has the most lists allowed. It matches
// market.ErrConflict.
var ErrTooMany = fmt.Errorf("too many watchlists (at most %d per user): %w", MaxLists, market.ErrConflict)

// Watchlist is a user's named list of symbols.
type Watchlist struct {
	ID        int64
	UserID    int64
	Name      string
	Symbols   []string // never nil once validated; order as given
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Store is the persistence watchlists need. Every method is scoped to
// userID: a list of another user is market.ErrNotFound. Times come back as
// stored (ms precision, UTC).
type Store interface {
	// CreateWatchlist stores w (UserID, Name, Symbols, CreatedAt,
	// UpdatedAt) unless w.UserID already has maxLists lists (then an error
	// matching ErrTooMany, checked atomically with the insert), and returns
	// it with its new ID. An unknown user is market.ErrNotFound.
	CreateWatchlist(ctx context.Context, w Watchlist, maxLists int) (Watchlist, error)
	// Watchlist returns list id of userID.
	Watchlist(ctx context.Context, userID, id int64) (Watchlist, error)
	// ListWatchlists returns userID's lists, oldest first (none: empty).
	ListWatchlists(ctx context.Context, userID int64) ([]Watchlist, error)
	// UpdateWatchlist replaces the Name, Symbols and UpdatedAt of list
	// w.ID of w.UserID and returns the list as stored.
	UpdateWatchlist(ctx context.Context, w Watchlist) (Watchlist, error)
	// DeleteWatchlist deletes list id of userID.
	DeleteWatchlist(ctx context.Context, userID, id int64) error
}

// Config tunes a Service.
type Config struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service manages watchlists. Safe for concurrent use.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a Service over store.
func NewService(store Store, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{store: store, now: cfg.Now}
}

// Validate normalises name (trimmed) and symbols (duplicates dropped) and
// checks the rules of docs/reference/http.md. A broken rule is a *market.ValidationError
// naming the field ("name", "symbols" or "symbols[i]").
func Validate(name string, symbols []string) (string, []string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n == 0 || n > MaxNameLen || !utf8.ValidString(name) {
		return "", nil, market.Invalid("name", "must be 1 to %d characters", MaxNameLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", nil, market.Invalid("name", "must not hold control characters")
		}
	}
	if len(symbols) > MaxSymbols {
		return "", nil, market.Invalid("symbols", "at most %d symbols per list, got %d", MaxSymbols, len(symbols))
	}
	out := make([]string, 0, len(symbols))
	seen := make(map[string]bool, len(symbols))
	for i, s := range symbols {
		if err := market.CheckSymbol(fmt.Sprintf("symbols[%d]", i), s); err != nil {
			return "", nil, err
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return name, out, nil
}

// Create makes a list for userID. Invalid input matches market.ErrInvalid;
// a user at the cap ErrTooMany (market.ErrConflict).
func (s *Service) Create(ctx context.Context, userID int64, name string, symbols []string) (Watchlist, error) {
	name, symbols, err := Validate(name, symbols)
	if err != nil {
		return Watchlist{}, fmt.Errorf("create watchlist: %w", err)
	}
	now := s.now().UTC()
	w, err := s.store.CreateWatchlist(ctx, Watchlist{UserID: userID, Name: name, Symbols: symbols, CreatedAt: now, UpdatedAt: now}, MaxLists)
	if err != nil {
		return Watchlist{}, fmt.Errorf("create watchlist for user %d: %w", userID, err)
	}
	return w, nil
}

// Get returns list id of userID, or an error matching market.ErrNotFound
// (also when it is another user's).
func (s *Service) Get(ctx context.Context, userID, id int64) (Watchlist, error) {
	w, err := s.store.Watchlist(ctx, userID, id)
	if err != nil {
		return Watchlist{}, fmt.Errorf("watchlist: %w", err)
	}
	return w, nil
}

// List returns userID's lists, oldest first (at most MaxLists).
func (s *Service) List(ctx context.Context, userID int64) ([]Watchlist, error) {
	ws, err := s.store.ListWatchlists(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list watchlists: %w", err)
	}
	return ws, nil
}

// Update replaces the name and symbols of list id of userID. Invalid input
// matches market.ErrInvalid, an unknown (or another user's) list
// market.ErrNotFound.
func (s *Service) Update(ctx context.Context, userID, id int64, name string, symbols []string) (Watchlist, error) {
	name, symbols, err := Validate(name, symbols)
	if err != nil {
		return Watchlist{}, fmt.Errorf("update watchlist: %w", err)
	}
	w, err := s.store.UpdateWatchlist(ctx, Watchlist{ID: id, UserID: userID, Name: name, Symbols: symbols, UpdatedAt: s.now().UTC()})
	if err != nil {
		return Watchlist{}, fmt.Errorf("update watchlist: %w", err)
	}
	return w, nil
}

// Delete deletes list id of userID; an unknown (or another user's) list
// matches market.ErrNotFound.
func (s *Service) Delete(ctx context.Context, userID, id int64) error {
	if err := s.store.DeleteWatchlist(ctx, userID, id); err != nil {
		return fmt.Errorf("delete watchlist: %w", err)
	}
	return nil
}

// IsTooMany reports whether err says the user has too many lists.
func IsTooMany(err error) bool { return errors.Is(err, ErrTooMany) }

// Patch changes list id of userID: its name when name is not nil, its
// symbols (replaced, in the order given) when symbols is not nil. The same
// rules and errors as Update. It reads, then writes the whole list: of two
// concurrent changes to one list, the last wins.
func (s *Service) Patch(ctx context.Context, userID, id int64, name *string, symbols []string) (Watchlist, error) {
	w, err := s.Get(ctx, userID, id)
	if err != nil {
		return Watchlist{}, err
	}
	if name != nil {
		w.Name = *name
	}
	if symbols != nil {
		w.Symbols = symbols
	}
	return s.Update(ctx, userID, id, w.Name, w.Symbols)
}

// AddSymbol inserts symbol into list id of userID at position (0-based;
// nil or past the end: appended). A symbol already in the list moves to
// position. A full list is a market.ErrInvalid for "symbols"; other errors
// as Update. Of two concurrent changes to one list, the last wins.
func (s *Service) AddSymbol(ctx context.Context, userID, id int64, symbol string, position *int) (Watchlist, error) {
	if err := market.CheckSymbol("symbol", symbol); err != nil {
		return Watchlist{}, fmt.Errorf("add symbol: %w", err)
	}
	w, err := s.Get(ctx, userID, id)
	if err != nil {
		return Watchlist{}, err
	}
	syms := slices.DeleteFunc(slices.Clone(w.Symbols), func(x string) bool { return x == symbol })
	at := len(syms)
	if position != nil {
		if *position < 0 {
			return Watchlist{}, fmt.Errorf("add symbol: %w", market.Invalid("position", "must be >= 0"))
		}
		at = min(*position, len(syms))
	}
	syms = slices.Insert(syms, at, symbol)
	return s.Update(ctx, userID, id, w.Name, syms)
}

// RemoveSymbol removes symbol from list id of userID; a symbol not in the
// list is market.ErrNotFound. Of two concurrent changes to one list, the
// last wins.
func (s *Service) RemoveSymbol(ctx context.Context, userID, id int64, symbol string) (Watchlist, error) {
	w, err := s.Get(ctx, userID, id)
	if err != nil {
		return Watchlist{}, err
	}
	i := slices.Index(w.Symbols, symbol)
	if i < 0 {
		return Watchlist{}, fmt.Errorf("remove symbol: %w", market.ErrNotFound)
	}
	return s.Update(ctx, userID, id, w.Name, slices.Delete(slices.Clone(w.Symbols), i, i+1))
}
