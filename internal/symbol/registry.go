package symbol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// DefaultMax is the default cap on registered symbols. Measured, a symbol
// costs about 5 KB of memory across an instance once it has ticked (see
// docs/security.md, "Symbols"), so the default cap holds about 50 MB.
const DefaultMax = 10_000

// Where a symbol's registration came from (Symbol.Source).
const (
	SourceAdmin     = "admin"     // findash symbol add, or the admin API
	SourceAuto      = "auto"      // its first tick, in auto mode
	SourceImport    = "import"    // findash import, or stored candles when the registry was introduced
	SourceSimulator = "simulator" // the built-in simulator's symbols
)

// Symbol is a registered symbol.
type Symbol struct {
	Name      string
	Source    string    // one of the Source* constants
	APIKeyID  int64     // the API key whose tick registered it (SourceAuto); 0 otherwise
	CreatedAt time.Time // ms precision, UTC
}

// ErrLimit is what a Store returns from RegisterSymbols when the new
// symbols would take the registry past its cap; nothing was registered.
var ErrLimit = errors.New("symbol limit reached")

// Store keeps the registered symbols; the SQL stores implement it.
type Store interface {
	// ListSymbols returns every registered symbol, sorted by name.
	ListSymbols(ctx context.Context) ([]Symbol, error)
	// RegisterSymbols registers the symbols not registered yet, all or
	// none: when that would make more than max registered symbols (max > 0)
	// it registers nothing and returns an error matching ErrLimit. It
	// returns how many were new.
	RegisterSymbols(ctx context.Context, syms []Symbol, max int) (added int, err error)
	// UnregisterSymbol removes name from the registry; not registered is
	// market.ErrNotFound. Its stored ticks and candles stay.
	UnregisterSymbol(ctx context.Context, name string) error
}

// Reasons a batch's symbols are refused: RejectError.Reason, and the
// reason label of findash_symbols_rejected_total.
const (
	ReasonScope   = "scope"   // outside the writer's symbol patterns (403)
	ReasonUnknown = "unknown" // not registered, in strict mode (422)
	ReasonLimit   = "limit"   // new, and the registry is at its cap (422)
)

// RejectError says why Admit refused a batch.
type RejectError struct {
	Reason   string                // one of the Reason* constants
	Symbol   string                // the first refused symbol
	Count    int                   // how many of the batch's symbols were refused
	Max      int                   // the cap (ReasonLimit)
	Patterns market.SymbolPatterns // the writer's patterns (ReasonScope)
}

// Error implements error with a message fit for the client.
func (e *RejectError) Error() string {
	more := ""
	if e.Count > 1 {
		more = fmt.Sprintf(" (and %d more)", e.Count-1)
	}
	switch e.Reason {
	case ReasonScope:
		return fmt.Sprintf("this API key may not write symbol %s%s: its symbols are %s", e.Symbol, more, e.Patterns)
	case ReasonUnknown:
		return fmt.Sprintf("symbol %s%s is not registered; an operator registers symbols with findash symbol add", e.Symbol, more)
	default:
		return fmt.Sprintf("the symbol limit (%d) is reached: new symbol %s%s refused, nothing of the batch taken; ticks of registered symbols are still accepted", e.Max, e.Symbol, more)
	}
}

// Writer is who posts a batch: the API key and its symbol patterns.
type Writer struct {
	APIKeyID int64
	Patterns market.SymbolPatterns // empty: every symbol
}

// Config tunes a Registry.
type Config struct {
	// Max caps the registered symbols. 0 means DefaultMax; negative, no cap.
	Max int
	// Strict refuses ticks of unregistered symbols instead of registering
	// them (Register still does).
	Strict bool
	// Refresh is how often Run reloads the set from the store (symbols
	// removed elsewhere are forgotten; added elsewhere, learnt). Default 30s.
	Refresh time.Duration
	// Loaded, when set, is called after every load of the registered set
	// from the store (by Run, or on demand), with the set and the time just
	// before it was read: what was not registered then and has not ticked
	// since can be forgotten (market.State.Forget). It must not call the
	// Registry.
	Loaded func(registered func(name string) bool, readAt time.Time)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Registry admits the symbols of ingest batches and registers new ones.
// Safe for concurrent use.
type Registry struct {
	store Store
	cfg   Config
	log   *slog.Logger

	loadMu   sync.Mutex // serialises loads; taken before mu
	lastLoad time.Time  // guarded by loadMu

	mu     sync.RWMutex
	known  map[string]struct{}
	loaded bool

	// Registrations (batch.go): turn (capacity 1) is held by the one
	// store call of new symbols in progress; gathering is the batch the
	// registrations arriving meanwhile join. regMu guards gathering; a
	// leaf, never held while another lock is taken.
	turn      chan struct{}
	regMu     sync.Mutex
	gathering *regBatch

	registered prometheus.Gauge
	max        prometheus.Gauge
	rejected   *prometheus.CounterVec
}

// New returns a Registry over store; its metrics go to reg when not nil.
// It holds nothing until the first Admit or Run loads the set.
func New(store Store, cfg Config, log *slog.Logger, reg prometheus.Registerer) *Registry {
	if cfg.Max == 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Registry{
		store: store, cfg: cfg, log: log.With("component", "symbols"),
		known: make(map[string]struct{}), turn: make(chan struct{}, 1),
		registered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_symbols_registered", Help: "Symbols in the registry, as this instance last saw it.",
		}),
		max: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_symbols_max", Help: "The cap on registered symbols (--max-symbols); -1 for none.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_symbols_rejected_total",
			Help: "Symbols of ingest batches refused, by reason: scope (outside the API key's patterns), unknown (strict mode), limit (the cap).",
		}, []string{"reason"}),
	}
	r.max.Set(float64(max(cfg.Max, -1)))
	for _, reason := range []string{ReasonScope, ReasonUnknown, ReasonLimit} {
		r.rejected.WithLabelValues(reason)
	}
	if reg != nil {
		reg.MustRegister(r.registered, r.max, r.rejected)
	}
	return r
}

// Max returns the cap (negative: none).
func (r *Registry) Max() int { return r.cfg.Max }

// Run loads the registered set, then reloads it every Config.Refresh until
// ctx ends; it returns nil. A failed load is logged and tried again at the
// next refresh (Admit loads on demand meanwhile).
func (r *Registry) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Refresh)
	defer t.Stop()
	for {
		if err := r.reload(ctx, 0); err != nil && ctx.Err() == nil {
			r.log.Warn("cannot load the symbol registry; keeping what is known", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// reload replaces the in-memory set with the store's, unless it was loaded
// less than minAge ago.
func (r *Registry) reload(ctx context.Context, minAge time.Duration) error {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	now := r.cfg.Now()
	if minAge > 0 && !r.lastLoad.IsZero() && now.Sub(r.lastLoad) < minAge {
		return nil
	}
	syms, err := r.store.ListSymbols(ctx)
	if err != nil {
		return fmt.Errorf("load symbols: %w", err)
	}
	known := make(map[string]struct{}, len(syms))
	for _, s := range syms {
		known[s.Name] = struct{}{}
	}
	// r.known is written by register after this; the Loaded hook reads
	// its own copy, not the map register grows.
	r.mu.Lock()
	r.known, r.loaded = maps.Clone(known), true
	r.mu.Unlock()
	r.lastLoad = now
	r.registered.Set(float64(len(known)))
	if r.cfg.Loaded != nil {
		r.cfg.Loaded(func(name string) bool { _, ok := known[name]; return ok }, now)
	}
	return nil
}

// unknown returns the symbols of syms not in the in-memory set, and
// whether the set was loaded.
func (r *Registry) unknown(syms []string) (out []string, loaded bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, s := range syms {
		if _, ok := r.known[s]; !ok {
			out = append(out, s)
		}
	}
	return out, r.loaded
}

// Known reports whether sym is registered, as this instance last saw it.
func (r *Registry) Known(sym string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.known[sym]
	return ok
}

// Search returns the registered names (as this instance last saw them)
// for which match is true, sorted, at most limit of them. It scans the
// in-memory set, no I/O: O(registered symbols), which Config.Max bounds.
func (r *Registry) Search(match func(name string) bool, limit int) []string {
	if limit <= 0 {
		return nil
	}
	var out []string
	r.mu.RLock()
	for n := range r.known {
		if match(n) {
			out = append(out, n)
		}
	}
	r.mu.RUnlock()
	sort.Strings(out)
	return out[:min(limit, len(out))]
}

// Admit decides whether w may post ticks of syms (distinct symbols of one
// batch) and registers the new ones in auto mode. It returns nil when the
// whole batch may go on, a *RejectError when it may not (then nothing was
// registered), or another error when the store could not be reached (the
// batch must be refused as unavailable). Symbols already registered cost
// one map lookup each, and no I/O.
func (r *Registry) Admit(ctx context.Context, w Writer, syms []string) error {
	if w.Patterns != "" {
		var bad []string
		for _, s := range syms {
			if !w.Patterns.Match(s) {
				bad = append(bad, s)
			}
		}
		if len(bad) > 0 {
			return r.reject(&RejectError{Reason: ReasonScope, Symbol: bad[0], Count: len(bad), Patterns: w.Patterns})
		}
	}
	unknown, loaded := r.unknown(syms)
	if len(unknown) == 0 {
		return nil
	}
	if !loaded || r.cfg.Strict {
		// Strict: an operator may have just added them on another
		// instance or with the command line; look again, at most once a
		// second however many unknown symbols are posted.
		if err := r.reload(ctx, time.Second); err != nil {
			return err
		}
		if unknown, _ = r.unknown(unknown); len(unknown) == 0 {
			return nil
		}
	}
	sort.Strings(unknown)
	if r.cfg.Strict {
		return r.reject(&RejectError{Reason: ReasonUnknown, Symbol: unknown[0], Count: len(unknown)})
	}
	return r.register(ctx, unknown, SourceAuto, w.APIKeyID)
}

// register adds names (none of which this instance knows) to the store and
// the in-memory set, or refuses them all.
func (r *Registry) register(ctx context.Context, names []string, source string, keyID int64) error {
	if r.cfg.Max > 0 {
		r.mu.RLock()
		n := len(r.known)
		r.mu.RUnlock()
		if n+len(names) > r.cfg.Max {
			// The in-memory count never exceeds the store's (but for
			// removals not seen yet), so this refusal needs no I/O: a flood
			// of new symbols past the cap costs no database work.
			return r.reject(&RejectError{Reason: ReasonLimit, Symbol: names[0], Count: len(names), Max: r.cfg.Max})
		}
	}
	now := r.cfg.Now().UTC()
	syms := make([]Symbol, len(names))
	for i, n := range names {
		syms[i] = Symbol{Name: n, Source: source, APIKeyID: keyID, CreatedAt: now}
	}
	shared, err := r.registerShared(ctx, syms)
	if shared && errors.Is(err, ErrLimit) {
		// Refused at the cap as part of a larger batch: try these alone,
		// so that they are not refused for another request's symbols.
		// Other failures (busy, a timeout) are not retried: a retry per
		// member is a transaction per request on an overloaded writer.
		if _, err = r.store.RegisterSymbols(ctx, syms, r.cfg.Max); err == nil {
			r.learn(syms)
		}
	}
	if err != nil {
		if errors.Is(err, ErrLimit) {
			// Other instances filled the registry: learn its size, so the
			// next refusals need no I/O.
			if lerr := r.reload(ctx, time.Second); lerr != nil {
				r.log.Warn("cannot reload the symbol registry", "err", lerr)
			}
			return r.reject(&RejectError{Reason: ReasonLimit, Symbol: names[0], Count: len(names), Max: r.cfg.Max})
		}
		return fmt.Errorf("register %d symbols: %w", len(names), err)
	}
	return nil
}

func (r *Registry) reject(e *RejectError) error {
	r.rejected.WithLabelValues(e.Reason).Add(float64(e.Count))
	return e
}

// Register registers names (valid symbols) from source, whether or not
// strict mode is on, within the cap: all or none. Names already registered
// are no error. It is what `findash symbol add`, the admin API and the
// simulator use.
func (r *Registry) Register(ctx context.Context, names []string, source string) error {
	for _, n := range names {
		if err := market.CheckSymbol("symbol", n); err != nil {
			return err
		}
	}
	if err := r.reload(ctx, time.Second); err != nil {
		return err
	}
	unknown, _ := r.unknown(dedup(names))
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return r.register(ctx, unknown, source, 0)
}

// Remove unregisters name: it frees a place under the cap, and in strict
// mode its ticks are refused again. Its stored ticks and candles stay. A
// name not registered is market.ErrNotFound.
func (r *Registry) Remove(ctx context.Context, name string) error {
	if err := r.store.UnregisterSymbol(ctx, name); err != nil {
		return fmt.Errorf("remove symbol %s: %w", name, err)
	}
	r.mu.Lock()
	delete(r.known, name)
	size := len(r.known)
	r.mu.Unlock()
	r.registered.Set(float64(size))
	return nil
}

// List returns every registered symbol, sorted by name, from the store.
func (r *Registry) List(ctx context.Context) ([]Symbol, error) {
	syms, err := r.store.ListSymbols(ctx)
	if err != nil {
		return nil, fmt.Errorf("list symbols: %w", err)
	}
	return syms, nil
}

func dedup(names []string) []string {
	seen := make(map[string]struct{}, len(names))
	out := names[:0:0]
	for _, n := range names {
		if _, ok := seen[n]; !ok {
			seen[n] = struct{}{}
			out = append(out, n)
		}
	}
	return out
}
