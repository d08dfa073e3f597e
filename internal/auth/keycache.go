package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
)

// KeyLookup finds an API key by the SHA-256 of its secret; a missing key
// is market.ErrNotFound. The Store is one; a KeyCache wraps one.
type KeyLookup interface {
	APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)
}

// KeyCacheConfig tunes a KeyCache. Zero fields take the defaults written
// next to them.
type KeyCacheConfig struct {
	// TTL is how long a key read from the store is used without asking the
	// store again. Past it, the cached key still answers at once while one
	// lookup refreshes it in the background. It also bounds how long an
	// instance that missed a revocation message keeps a deleted key while
	// the store is up. Default 30 s.
	TTL time.Duration
	// MaxStale is how long past TTL a key may still be used while the store
	// cannot be reached (stale-while-unavailable), so that ingest outlives a
	// database outage; past it the key needs the store again (503 while it
	// is down). Zero means the default, 1 h; negative means none.
	MaxStale time.Duration
	// NegativeTTL is how long a well-formed key the store does not know is
	// remembered as unknown, so repeating it does not reach the store.
	// Keys are 256 random bits, so none can be issued that a client tried
	// before. Zero means the default, 10 s; negative means none.
	NegativeTTL time.Duration
	// MaxEntries bounds the known keys and, separately, the unknown ones, so
	// a flood of random keys cannot evict the keys in use. Default 100,000.
	MaxEntries int
	// LoadTimeout bounds one store lookup. Default 2 s.
	LoadTimeout time.Duration
	// RetryEvery is how long after a failed refresh the next is tried, while
	// the stale key answers. Default 1 s.
	RetryEvery time.Duration
	// MaxRefreshes bounds the background refreshes running at once; a
	// stale key met while they are all busy is served and refreshed later.
	// Default 16.
	MaxRefreshes int
	// Now is the clock of the TTLs; nil means time.Now.
	Now func() time.Time
}

func (c *KeyCacheConfig) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		switch {
		case *d == 0:
			*d = v
		case *d < 0:
			*d = 0
		}
	}
	def(&c.TTL, 30*time.Second)
	def(&c.MaxStale, time.Hour)
	def(&c.NegativeTTL, 10*time.Second)
	def(&c.LoadTimeout, 2*time.Second)
	def(&c.RetryEvery, time.Second)
	if c.MaxEntries <= 0 {
		c.MaxEntries = 100_000
	}
	if c.MaxRefreshes <= 0 {
		c.MaxRefreshes = 16
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// KeyCache keeps API keys in process in front of a KeyLookup, so that
// authenticating an ingest request does not read the database: a key
// seen in the last TTL answers from memory, a known key whose store is
// down answers for up to MaxStale more, an unknown key is remembered for
// NegativeTTL. Revoke drops a deleted key at once; the bus carries
// revocations to every instance (cmd/findash wires both).
//
// Concurrency. Safe for concurrent use. Lookups of one key that miss are
// merged into one store read. Background refreshes run on goroutines the
// cache owns (at most MaxRefreshes, each bounded by LoadTimeout); Close
// waits for them. mu orders revocations against the writes of loads: a
// load that a revocation overtook does not write its result.
type KeyCache struct {
	store KeyLookup
	cfg   KeyCacheConfig
	log   *slog.Logger
	known *otter.Cache[string, *keyEntry]
	// unknown maps a hash to when the store said it does not exist.
	unknown *otter.Cache[string, time.Time]

	mu    sync.Mutex
	epoch uint64 // revocations so far; guarded by mu

	flightsMu sync.Mutex
	flights   map[string]*flight // loads in progress, by hash

	refreshes chan struct{} // semaphore of background refreshes
	wg        sync.WaitGroup
	base      context.Context // cancelled by Close
	stop      context.CancelFunc

	lookups *prometheus.CounterVec
	// hits, stales, misses and negatives are lookups' series, resolved
	// once: WithLabelValues hashes the label on every call, and lookup
	// runs on every request with an API key (every POST of ticks).
	hits, stales, misses, negatives prometheus.Counter
	storeErrors                     prometheus.Counter
	revocations                     prometheus.Counter
}

// keyEntry is a known key. Immutable but for lastUsed.
type keyEntry struct {
	key     APIKey
	fetched time.Time // when the store last returned it
	// retryAt: a refresh failed; none is tried before then (zero: the last
	// refresh succeeded).
	retryAt time.Time
	// lastUsed is when use was last recorded (Unix ns; 0: never): the
	// stored LastUsedAt, then the Service's own touches, so it touches at
	// most once per period whatever the cache's age.
	lastUsed atomic.Int64
}

func newKeyEntry(k APIKey, fetched time.Time) *keyEntry {
	e := &keyEntry{key: k, fetched: fetched}
	if k.LastUsedAt != nil {
		e.lastUsed.Store(k.LastUsedAt.UnixNano())
	}
	return e
}

// apiKey returns the key with LastUsedAt as last recorded.
func (e *keyEntry) apiKey() APIKey {
	k := e.key
	if ns := e.lastUsed.Load(); ns != 0 {
		t := time.Unix(0, ns).UTC()
		k.LastUsedAt = &t
	}
	return k
}

type flight struct {
	done chan struct{}
	key  APIKey
	err  error
}

// NewKeyCache returns a KeyCache over store. Its metrics
// (findash_auth_apikey_cache_lookups_total{result}, findash_auth_apikey_cache_entries{kind},
// findash_auth_apikey_store_errors_total, findash_auth_apikey_revocations_total)
// are registered on reg (nil: not registered). It panics if they cannot be
// (a programming error). Close it to stop its goroutines.
func NewKeyCache(store KeyLookup, cfg KeyCacheConfig, log *slog.Logger, reg prometheus.Registerer) *KeyCache {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The otter expiries only free memory; freshness is judged on cfg.Now.
	known := otter.Must(&otter.Options[string, *keyEntry]{
		MaximumSize:      cfg.MaxEntries,
		ExpiryCalculator: otter.ExpiryWriting[string, *keyEntry](cfg.TTL + cfg.MaxStale + time.Minute),
	})
	unknown := otter.Must(&otter.Options[string, time.Time]{
		MaximumSize:      cfg.MaxEntries,
		ExpiryCalculator: otter.ExpiryWriting[string, time.Time](cfg.NegativeTTL + time.Minute),
	})
	base, stop := context.WithCancel(context.Background())
	c := &KeyCache{
		store: store, cfg: cfg, log: log.With("component", "auth"),
		known: known, unknown: unknown,
		flights:   make(map[string]*flight),
		refreshes: make(chan struct{}, cfg.MaxRefreshes),
		base:      base, stop: stop,
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_auth_apikey_cache_lookups_total",
			Help: "API key lookups by result: hit (fresh, or stale while a refresh runs), stale (served past the TTL because the store failed), miss (read from the store), negative (known unknown).",
		}, []string{"result"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_auth_apikey_store_errors_total",
			Help: "API key reads from the store that failed (not counting unknown keys).",
		}),
		revocations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_auth_apikey_revocations_total",
			Help: "API key revocations applied to the cache (made here or received over the bus).",
		}),
	}
	c.hits, c.stales = c.lookups.WithLabelValues("hit"), c.lookups.WithLabelValues("stale")
	c.misses, c.negatives = c.lookups.WithLabelValues("miss"), c.lookups.WithLabelValues("negative")
	if reg != nil {
		entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "findash_auth_apikey_cache_entries", Help: "API keys cached, by kind (known, unknown).",
			ConstLabels: prometheus.Labels{"kind": "known"},
		}, func() float64 { return float64(known.EstimatedSize()) })
		unknownEntries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "findash_auth_apikey_cache_entries", Help: "API keys cached, by kind (known, unknown).",
			ConstLabels: prometheus.Labels{"kind": "unknown"},
		}, func() float64 { return float64(unknown.EstimatedSize()) })
		reg.MustRegister(c.lookups, c.storeErrors, c.revocations, entries, unknownEntries)
	}
	return c
}

// Close stops background refreshes, waits for them, and stops the cache's
// own goroutines. Lookups after Close still work, without refreshes.
func (c *KeyCache) Close() {
	c.stop()
	c.wg.Wait()
	c.known.StopAllGoroutines()
	c.unknown.StopAllGoroutines()
}

// APIKeyByHash implements KeyLookup from the cache, the store behind it
// when needed. A store failure with no usable cached key is returned as
// such (not market.ErrNotFound).
func (c *KeyCache) APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error) {
	k, _, err := c.lookup(ctx, hash)
	return k, err
}

// lookup is APIKeyByHash that also reports whether the key is served
// stale because the store failed (the caller then skips writes to it).
func (c *KeyCache) lookup(ctx context.Context, hash []byte) (key APIKey, stale bool, err error) {
	h := string(hash)
	if key, stale, answered, err := c.cached(h); answered {
		return key, stale, err
	}
	// A caller already gone starts no store read: the read would outlive
	// it (it runs for the others too) and its failure would go uncounted.
	if err := ctx.Err(); err != nil {
		return APIKey{}, false, fmt.Errorf("api key: %w", err)
	}
	c.misses.Inc()
	f, _ := c.load(h, true, nil)
	select {
	case <-f.done:
		return f.key, false, f.err
	case <-ctx.Done():
		return APIKey{}, false, fmt.Errorf("api key: %w", ctx.Err())
	}
}

// cached answers the lookup of h from the cache alone, with answered
// false when only the store can (a miss, not counted here). A known key served past
// its TTL starts its background refresh, as for any lookup: that read is
// bounded per key and by MaxRefreshes.
func (c *KeyCache) cached(h string) (key APIKey, stale, answered bool, err error) {
	now := c.cfg.Now()
	if e, found := c.known.GetIfPresent(h); found {
		age := now.Sub(e.fetched)
		switch {
		case age < c.cfg.TTL:
			c.hits.Inc()
			return e.apiKey(), false, true, nil
		case age < c.cfg.TTL+c.cfg.MaxStale:
			if !now.Before(e.retryAt) {
				c.refresh(h)
			}
			if !e.retryAt.IsZero() {
				c.stales.Inc()
				return e.apiKey(), true, true, nil
			}
			c.hits.Inc()
			return e.apiKey(), false, true, nil
		}
	}
	if at, found := c.unknown.GetIfPresent(h); found && now.Sub(at) < c.cfg.NegativeTTL {
		c.negatives.Inc()
		return APIKey{}, false, true, fmt.Errorf("api key: %w", market.ErrNotFound)
	}
	return APIKey{}, false, false, nil
}

// refresh starts a background load of h unless one is running or
// MaxRefreshes are.
func (c *KeyCache) refresh(h string) {
	if c.base.Err() != nil {
		return // closed
	}
	select {
	case c.refreshes <- struct{}{}:
	default:
		return // every slot busy: a later request refreshes it
	}
	release := func() { <-c.refreshes }
	if _, started := c.load(h, false, release); !started {
		release() // joined a read already in flight
	}
}

// load starts (or joins) the one store read of h in flight and returns it,
// and whether it started it; a read it starts calls done, if not nil, when
// it ends. The read runs on its own goroutine, owned by the cache, bounded
// by LoadTimeout and Close, so a caller that gives up does not cancel it
// for the others. With recheck (a miss), a read that ended between the
// caller's look at the cache and now answers instead of a new one: settle
// writes the cache before it removes the flight, both seen here under
// flightsMu.
func (c *KeyCache) load(h string, recheck bool, done func()) (*flight, bool) {
	c.flightsMu.Lock()
	if f, ok := c.flights[h]; ok {
		c.flightsMu.Unlock()
		return f, false
	}
	if recheck {
		now := c.cfg.Now()
		if e, ok := c.known.GetIfPresent(h); ok && now.Sub(e.fetched) < c.cfg.TTL {
			c.flightsMu.Unlock()
			f := &flight{done: make(chan struct{}), key: e.apiKey()}
			close(f.done)
			return f, false
		}
		if at, ok := c.unknown.GetIfPresent(h); ok && now.Sub(at) < c.cfg.NegativeTTL {
			c.flightsMu.Unlock()
			f := &flight{done: make(chan struct{}), err: fmt.Errorf("api key: %w", market.ErrNotFound)}
			close(f.done)
			return f, false
		}
	}
	f := &flight{done: make(chan struct{})}
	c.flights[h] = f
	c.flightsMu.Unlock()

	c.mu.Lock()
	epoch := c.epoch
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.base, c.cfg.LoadTimeout)
		k, err := c.store.APIKeyByHash(ctx, []byte(h))
		cancel()
		f.key, f.err = c.settle(h, epoch, k, err)
		c.flightsMu.Lock()
		delete(c.flights, h)
		c.flightsMu.Unlock()
		close(f.done)
		if done != nil {
			done()
		}
	}()
	return f, true
}

// settle records a store read of h begun at epoch, and returns what the
// caller that waited on it gets.
func (c *KeyCache) settle(h string, epoch uint64, k APIKey, err error) (APIKey, error) {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	current := epoch == c.epoch // no revocation overtook the read
	switch {
	case err == nil:
		if current {
			e := newKeyEntry(k, now)
			if old, ok := c.known.GetIfPresent(h); ok && old.lastUsed.Load() > e.lastUsed.Load() {
				e.lastUsed.Store(old.lastUsed.Load())
			}
			c.known.Set(h, e)
			c.unknown.Invalidate(h)
		}
		return k, nil
	case errors.Is(err, market.ErrNotFound):
		c.known.Invalidate(h)
		if c.cfg.NegativeTTL > 0 {
			c.unknown.Set(h, now)
		}
		return APIKey{}, err
	}
	c.storeErrors.Inc()
	// Keep serving the old entry, marked stale, and wait before the next try.
	if old, ok := c.known.GetIfPresent(h); ok && current {
		e := &keyEntry{key: old.key, fetched: old.fetched, retryAt: now.Add(c.cfg.RetryEvery)}
		e.lastUsed.Store(old.lastUsed.Load())
		c.known.Set(h, e)
		c.log.Warn("api key store unavailable; using the cached key", "api_key_id", old.key.ID,
			"cached_for", now.Sub(old.fetched).Round(time.Second), "err", err)
	}
	return APIKey{}, err
}

// Revoke drops key id from the cache at once, and makes any store read in
// flight not write what it read. Revoking a key that is not cached, or
// twice, is harmless.
func (c *KeyCache) Revoke(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for h, e := range c.known.All() {
		if e.key.ID == id {
			c.known.Invalidate(h)
		}
	}
	c.revocations.Inc()
}

// touched records that use of the key of hash was recorded at (or is
// being: the Service marks it before writing, so a slow or failing store
// gets one attempt per period, not one per request).
func (c *KeyCache) touched(hash []byte, at time.Time) {
	if e, ok := c.known.GetIfPresent(string(hash)); ok {
		e.lastUsed.Store(at.UnixNano())
	}
}
