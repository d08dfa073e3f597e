package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// Remote is a shared second-level cache (Redis at stage 2+). Get reports
// whether key was present; Set stores val for ttl. Both should answer within
// the context's deadline.
type Remote interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
}

// Codec turns values into bytes and back for the Remote layer. It is only
// used when a Remote is configured.
type Codec[V any] struct {
	Encode func(V) ([]byte, error)
	Decode func([]byte) (V, error)
}

// Config tunes a Cache. Zero fields take the defaults documented on each.
type Config struct {
	// Name labels the cache's metrics ("cache" label), e.g. "api". Default "default".
	Name string
	// MaxEntries bounds the L1. Default 10,000.
	MaxEntries int
	// LoadTimeout bounds one flight (L2 round trips and load). Default 10 s.
	LoadTimeout time.Duration
	// RemoteTimeout bounds each L2 call. Default 100 ms.
	RemoteTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "default"
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 10_000
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = 10 * time.Second
	}
	if c.RemoteTimeout <= 0 {
		c.RemoteTimeout = 100 * time.Millisecond
	}
}

type entry[V any] struct {
	v   V
	ttl time.Duration
}

// Cache is a read-through cache of values of type V keyed by string. Build
// it with New.
type Cache[V any] struct {
	cfg    Config
	l1     *otter.Cache[string, entry[V]]
	remote Remote
	codec  Codec[V]
	group  singleflight.Group
	log    *slog.Logger

	l1Hit, l1Miss, l2Hit, l2Miss prometheus.Counter
	remoteErr                    prometheus.Counter
}

// New returns a Cache. remote may be nil (L1 only); when it is not, codec
// must have both functions. Metrics findash_cache_hits_total and
// findash_cache_misses_total (labels cache, layer) and
// findash_cache_remote_errors_total (label cache) are registered on reg
// (nil: not registered); several caches may share one registry.
func New[V any](cfg Config, remote Remote, codec Codec[V], log *slog.Logger, reg prometheus.Registerer) (*Cache[V], error) {
	cfg.setDefaults()
	if remote != nil && (codec.Encode == nil || codec.Decode == nil) {
		return nil, errors.New("cache: a Remote needs a Codec with Encode and Decode")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l1, err := otter.New(&otter.Options[string, entry[V]]{
		MaximumSize: cfg.MaxEntries,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, entry[V]]) time.Duration {
			return e.Value.ttl
		}),
		Logger: otterLogger{log},
	})
	if err != nil {
		return nil, fmt.Errorf("cache: new L1: %w", err)
	}
	hits := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "findash_cache_hits_total",
		Help: "Cache lookups answered by a layer (l1 in-process, l2 remote).",
	}, []string{"cache", "layer"})
	misses := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "findash_cache_misses_total",
		Help: "Cache lookups a layer could not answer (l1 in-process, l2 remote).",
	}, []string{"cache", "layer"})
	remoteErrs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "findash_cache_remote_errors_total",
		Help: "Failed calls to the remote (L2) cache, treated as misses.",
	}, []string{"cache"})
	if reg != nil {
		if hits, err = register(reg, hits); err != nil {
			return nil, err
		}
		if misses, err = register(reg, misses); err != nil {
			return nil, err
		}
		if remoteErrs, err = register(reg, remoteErrs); err != nil {
			return nil, err
		}
	}
	return &Cache[V]{
		cfg: cfg, l1: l1, remote: remote, codec: codec,
		log:       log.With("component", "cache", "cache", cfg.Name),
		l1Hit:     hits.WithLabelValues(cfg.Name, "l1"),
		l1Miss:    misses.WithLabelValues(cfg.Name, "l1"),
		l2Hit:     hits.WithLabelValues(cfg.Name, "l2"),
		l2Miss:    misses.WithLabelValues(cfg.Name, "l2"),
		remoteErr: remoteErrs.WithLabelValues(cfg.Name),
	}, nil
}

// register registers c on reg, or returns the collector already registered
// under the same description so that several caches share the metric.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("cache: register metrics: %w", err)
	}
	return c, nil
}

// Get returns the value of key. On an L1 miss it joins (or starts) the one
// flight of key, which tries L2, then calls load and stores its value for
// ttl in both layers (ttl <= 0: the value is returned but not stored).
//
// Get returns load's error (to every caller waiting on that flight), or
// ctx.Err() when ctx ends first; the flight then goes on for the others.
// A panic in load is returned as an error to every waiter.
func (c *Cache[V]) Get(ctx context.Context, key string, ttl time.Duration, load func(ctx context.Context) (V, error)) (V, error) {
	if e, ok := c.l1.GetIfPresent(key); ok {
		c.l1Hit.Inc()
		return e.v, nil
	}
	c.l1Miss.Inc()
	ch := c.group.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LoadTimeout)
		defer cancel()
		return c.fill(fctx, key, ttl, load)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			var zero V
			return zero, res.Err
		}
		return res.Val.(V), nil
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// fill runs inside the flight of key.
func (c *Cache[V]) fill(ctx context.Context, key string, ttl time.Duration, load func(ctx context.Context) (V, error)) (V, error) {
	// A flight that ended just before this one began may have filled L1.
	if e, ok := c.l1.GetIfPresent(key); ok {
		return e.v, nil
	}
	if v, ok := c.remoteGet(ctx, key); ok {
		c.store(key, v, ttl)
		return v, nil
	}
	v, err := safeLoad(ctx, load)
	if err != nil {
		return v, err
	}
	if ttl > 0 {
		c.remoteSet(ctx, key, v, ttl)
		c.store(key, v, ttl)
	}
	return v, nil
}

// safeLoad turns a panic of load into an error: singleflight's DoChan would
// otherwise re-panic it on a goroutine of its own and end the process.
func safeLoad[V any](ctx context.Context, load func(ctx context.Context) (V, error)) (v V, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cache: load panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return load(ctx)
}

func (c *Cache[V]) store(key string, v V, ttl time.Duration) {
	if ttl > 0 {
		c.l1.Set(key, entry[V]{v: v, ttl: ttl})
	}
}

func (c *Cache[V]) remoteGet(ctx context.Context, key string) (V, bool) {
	var zero V
	if c.remote == nil {
		return zero, false
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RemoteTimeout)
	defer cancel()
	b, ok, err := c.remote.Get(rctx, key)
	if err != nil {
		c.remoteErr.Inc()
		c.log.Debug("remote cache get failed", "key", key, "err", err)
		return zero, false
	}
	if !ok {
		c.l2Miss.Inc()
		return zero, false
	}
	v, err := c.codec.Decode(b)
	if err != nil {
		c.remoteErr.Inc()
		c.log.Debug("remote cache value undecodable", "key", key, "err", err)
		return zero, false
	}
	c.l2Hit.Inc()
	return v, true
}

func (c *Cache[V]) remoteSet(ctx context.Context, key string, v V, ttl time.Duration) {
	if c.remote == nil {
		return
	}
	b, err := c.codec.Encode(v)
	if err != nil {
		c.remoteErr.Inc()
		c.log.Debug("remote cache value unencodable", "key", key, "err", err)
		return
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RemoteTimeout)
	defer cancel()
	if err := c.remote.Set(rctx, key, b, ttl); err != nil {
		c.remoteErr.Inc()
		c.log.Debug("remote cache set failed", "key", key, "err", err)
	}
}

// Invalidate removes key from L1 (not from L2, whose entries expire by TTL).
func (c *Cache[V]) Invalidate(key string) { c.l1.Invalidate(key) }

// Len returns the approximate number of entries in L1.
func (c *Cache[V]) Len() int { return c.l1.EstimatedSize() }

// Close stops the L1's background maintenance goroutine and waits for it.
// It is safe to call more than once.
func (c *Cache[V]) Close() { c.l1.StopAllGoroutines() }

// otterLogger routes otter's rare warnings to slog.
type otterLogger struct{ log *slog.Logger }

func (l otterLogger) Warn(ctx context.Context, msg string, err error) {
	l.log.WarnContext(ctx, msg, "err", err)
}

func (l otterLogger) Error(ctx context.Context, msg string, err error) {
	l.log.ErrorContext(ctx, msg, "err", err)
}
