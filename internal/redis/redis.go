package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/sony/gobreaker/v2"

	"github.com/findash/findash/internal/market"
)

// Config tunes a Client. Zero fields take the defaults documented on each;
// a non-zero field overrides the same setting given in the URL's query
// (dial_timeout=, read_timeout=, write_timeout=, pool_size=, pool_timeout=).
type Config struct {
	// Prefix namespaces every key. Default "findash:".
	Prefix string
	// DialTimeout bounds one connection attempt. Default 500 ms.
	DialTimeout time.Duration
	// ReadTimeout and WriteTimeout bound each socket read and write.
	// Default 200 ms each.
	ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the number of connections. Default 10 per GOMAXPROCS.
	PoolSize int
	// PoolTimeout bounds the wait for a free connection. Default 200 ms.
	PoolTimeout time.Duration
	// CallTimeout bounds each call as a whole (pool wait, dial, write, read)
	// when the caller's context allows longer. Default 500 ms.
	CallTimeout time.Duration
	// BreakerFailures consecutive failures open the breaker. Default 5.
	BreakerFailures uint32
	// BreakerOpen is how long the breaker stays open before it lets probes
	// through. Default 2 s.
	BreakerOpen time.Duration
	// BreakerProbes calls are let through while half-open; that many
	// successes close the breaker, one failure opens it again. Default 3.
	BreakerProbes uint32
}

func (c *Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = "findash:"
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 500 * time.Millisecond
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = 5
	}
	if c.BreakerOpen <= 0 {
		c.BreakerOpen = 2 * time.Second
	}
	if c.BreakerProbes == 0 {
		c.BreakerProbes = 3
	}
}

// pick returns cfg when set, else the URL's value when set, else def.
func pick[T comparable](cfg, url, def T) T {
	var zero T
	switch {
	case cfg != zero:
		return cfg
	case url != zero:
		return url
	}
	return def
}

// Client is a Redis connection pool guarded by a circuit breaker. Build it
// with Open; it is safe for concurrent use.
type Client struct {
	cfg  Config
	rdb  *goredis.Client
	rate *redis_rate.Limiter
	cb   *gobreaker.TwoStepCircuitBreaker[struct{}]
	log  *slog.Logger
	errs *prometheus.CounterVec
}

// Open returns a Client for url (redis://[user:pass@]host:port/db or
// rediss://…, parsed by go-redis's ParseURL). It fails only on a bad URL or
// when the metrics cannot be registered on reg (nil: not registered): an
// unreachable Redis is logged as a warning and reported by Check, so an
// instance starts, degraded, while Redis is down. ctx bounds that first ping.
func Open(ctx context.Context, url string, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Client, error) {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "redis")
	opt, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: parse url: %w", err)
	}
	opt.DialTimeout = pick(cfg.DialTimeout, opt.DialTimeout, 500*time.Millisecond)
	opt.ReadTimeout = pick(cfg.ReadTimeout, opt.ReadTimeout, 200*time.Millisecond)
	opt.WriteTimeout = pick(cfg.WriteTimeout, opt.WriteTimeout, 200*time.Millisecond)
	opt.PoolSize = pick(cfg.PoolSize, opt.PoolSize, 10*runtime.GOMAXPROCS(0))
	opt.PoolTimeout = pick(cfg.PoolTimeout, opt.PoolTimeout, 200*time.Millisecond)
	opt.ContextTimeoutEnabled = true // honour the callers' deadlines
	opt.MaxRetries = -1              // the breaker, not retries, handles failures
	opt.DialerRetries = 1            // one dial attempt (go-redis defaults to 5)
	opt.DisableIdentity = true       // no CLIENT SETINFO round trip per connection
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	c := &Client{cfg: cfg, log: log}
	c.errs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "findash_redis_errors_total",
		Help: "Failed Redis calls by operation, fast failures of an open circuit breaker included.",
	}, []string{"op"})
	c.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         "redis",
		MaxRequests:  cfg.BreakerProbes,
		Timeout:      cfg.BreakerOpen,
		ReadyToTrip:  func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= cfg.BreakerFailures },
		IsSuccessful: serverAnswered,
		IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			lvl := slog.LevelWarn
			if to == gobreaker.StateClosed {
				lvl = slog.LevelInfo
			}
			log.Log(context.Background(), lvl, "redis circuit breaker changed state", "from", from.String(), "to", to.String())
		},
	})
	state := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "findash_breaker_state",
		Help:        "State of the circuit breaker guarding a dependency: 0 closed, 1 half-open, 2 open.",
		ConstLabels: prometheus.Labels{"dependency": "redis"},
	}, func() float64 { return float64(c.cb.State()) })
	if reg != nil {
		if c.errs, err = register(reg, c.errs); err != nil {
			return nil, err
		}
		if err := reg.Register(state); err != nil {
			return nil, fmt.Errorf("redis: register breaker metric: %w", err)
		}
	}
	c.rdb = goredis.NewClient(opt)
	c.rate = redis_rate.NewLimiter(c.rdb)
	if err := c.Check(ctx); err != nil {
		log.Warn("redis unreachable at start; serving without it until it answers", "addr", opt.Addr, "err", err)
	}
	return c, nil
}

// serverAnswered tells the breaker whether a call's outcome shows a usable
// Redis: success, a miss, or an error reply about the command itself.
// Replies saying the server cannot serve (loading, out of clients or memory,
// a read-only or down master) count as failures, as do network errors and
// timeouts.
func serverAnswered(err error) bool {
	if err == nil || errors.Is(err, goredis.Nil) {
		return true
	}
	var rerr goredis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	return !(goredis.IsLoadingError(err) || goredis.IsMaxClientsError(err) || goredis.IsOOMError(err) ||
		goredis.IsReadOnlyError(err) || goredis.IsMasterDownError(err) || goredis.IsClusterDownError(err) ||
		goredis.IsTryAgainError(err) || goredis.IsAuthError(err))
}

// register registers c on reg, or returns the collector already registered
// under the same description (several Clients may share a registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("redis: register metrics: %w", err)
	}
	return c, nil
}

// Close closes the connection pool. Calls after Close fail.
func (c *Client) Close() error {
	if err := c.rdb.Close(); err != nil {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}

// Check pings Redis for /readyz (a non-critical check: Redis down means
// degraded). It goes through the breaker: while the breaker is open it fails
// at once; once half-open, its pings are the probes that close it again.
func (c *Client) Check(ctx context.Context) error {
	return c.do(ctx, "check", func(ctx context.Context) error {
		return c.rdb.Ping(ctx).Err()
	})
}

// do runs fn through the breaker and counts and wraps its failure. fn's
// goredis.Nil is returned as is (a miss is not a failure).
func (c *Client) do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	done, err := c.cb.Allow()
	if err != nil { // open, or half-open with its probes in flight
		c.errs.WithLabelValues(op).Inc()
		return fmt.Errorf("redis %s: %w: %w", op, market.ErrUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	err = fn(ctx)
	cancel()
	done(err)
	if err == nil || errors.Is(err, goredis.Nil) {
		return err
	}
	c.errs.WithLabelValues(op).Inc()
	return fmt.Errorf("redis %s: %w: %w", op, market.ErrUnavailable, err)
}
