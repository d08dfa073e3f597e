package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/cache"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/portfolio"
	"github.com/findash/findash/internal/watchlist"
	"github.com/prometheus/client_golang/prometheus"
)

// Market is the live market state (satisfied by *market.State).
type Market interface {
	// Quotes returns the known quotes of symbols in the order asked, or every
	// known quote sorted by symbol when symbols is empty.
	Quotes(symbols []string) []market.Quote
	// QuotesAfter returns up to n known quotes of the symbols sorted after
	// after ("" for the first), in symbol order.
	QuotesAfter(after string, n int) []market.Quote
	// Movers returns up to n top gainers and losers by change_pct_24h.
	Movers(n int) (gainers, losers []market.Quote)
	// OpenCandle returns the newest candle of symbol at interval iv.
	OpenCandle(symbol string, iv market.Interval) (market.Candle, bool)
}

// CandleStore reads stored candles (satisfied by the SQL stores).
type CandleStore interface {
	Candles(ctx context.Context, q market.CandleQuery) ([]market.Candle, error)
}

// RecentCandles answers a candle query from memory when it can: the same
// candles as the store's, the open one included, or false to ask the store
// (satisfied by *live.ImportWatch over the market state).
type RecentCandles interface {
	RecentCandles(q market.CandleQuery) ([]market.Candle, bool)
}

// Publisher appends ticks to the event log and returns once the log has
// them (satisfied by *ingest.Publisher). An error matching
// market.ErrUnavailable means the log is down or slow: retry later.
type Publisher interface {
	Publish(ctx context.Context, ticks []market.Tick) error
}

// Authenticator turns a bearer token (session token or API key) into a
// Principal, or fails with an error matching auth.ErrUnauthenticated.
// AuthenticateCached does so without reading a store, or fails with an
// error matching auth.ErrNeedsLookup (satisfied by *auth.Service).
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (auth.Principal, error)
	AuthenticateCached(ctx context.Context, bearer string) (auth.Principal, error)
}

// Check is one dependency probed by /readyz.
type Check struct {
	Name string
	// Critical: a failing critical check makes the instance "down" (503);
	// a failing non-critical one only "degraded" (200).
	Critical bool
	// Fn returns nil when the dependency is healthy. It is called with a
	// context bounded by Config.CheckTimeout.
	Fn func(ctx context.Context) error
}

// Deps are the API's collaborators. Market, Candles, Publisher, Parse and
// Auth are required; the others may be left zero.
type Deps struct {
	Market  Market
	Candles CandleStore
	// Recent, when set, answers the candle reads it covers (most reads of
	// recent candles) without a store query; nil reads every one from
	// Candles.
	Recent RecentCandles
	// Ticks serves GET /api/v1/ticks/{symbol} from the store; nil answers
	// it 503.
	Ticks TickReader
	// Archive, when set, adds the archived ticks to GET
	// /api/v1/ticks/{symbol} for ranges before TickRetention.
	Archive TickArchive
	// TickRetention is how long the store keeps ticks (--tick-retention):
	// before the UTC day of now - TickRetention the archive is read too.
	TickRetention time.Duration
	Publisher     Publisher
	// Parse decodes an ingest body (JSON array or NDJSON) into validated
	// ticks; bad ticks are an error matching market.ErrInvalid, an
	// *ingest.BatchError naming every bad line ((*ingest.Parser).Parse).
	Parse func(body []byte) ([]market.Tick, error)
	Auth  Authenticator
	// Symbols admits the symbols of ingest batches (the registry, with the
	// API key's scope); nil admits every symbol.
	Symbols SymbolAdmitter
	// Registered lists the registered symbols, live or not (the registry):
	// /udf/search also finds markets whose history was only imported. nil:
	// only the live state's symbols are found.
	Registered SymbolSearcher
	// WebSocket is mounted at GET /ws (the gateway); nil answers 503.
	WebSocket http.Handler
	// Draining reports that the process is shutting down: /readyz answers
	// 503 at once. Nil means never (SetDraining still works).
	Draining func() bool
	// Checks are probed concurrently by /readyz.
	Checks []Check
	// FedSymbols maps each symbol an exchange feed owns to its venue
	// (binance); POST /api/v1/ticks refuses their ticks (fedsymbols.go).
	// Read only once the API is built.
	FedSymbols map[string]string
	// Feeds returns the status of the exchange feeds the instance runs,
	// for GET /api/v1/feeds; nil answers an empty list.
	Feeds func() []FeedStatus
	// Limiter counts requests per client; nil uses an in-process LocalLimiter.
	Limiter Limiter
	// Failures counts failed credential lookups per client IP
	// (Config.AuthFailLimit); nil uses an in-process LocalLimiter.
	Failures FailureLimiter
	// Cache is the response cache's L2 (Redis); nil means L1 only.
	Cache cache.Remote
	// Accounts serves signup, login, logout, /me, WebSocket tokens and API
	// keys (usually the same *auth.Service as Auth); nil answers those
	// routes 503.
	Accounts *auth.Service
	// Watchlists serves /api/v1/watchlists; nil answers 503.
	Watchlists *watchlist.Service
	// Alerts serves /api/v1/alerts, /api/v1/alerts/events and
	// /api/v1/webhook-secret (alerts.go); nil answers 503.
	Alerts AlertStore
	// AlertLog, when set, gives each alert created or edited the log's
	// newest stream sequence (alert.Alert.CreatedSeq); an error reading it
	// answers the creation or edit 503. nil: created with 0, evaluated
	// from the evaluator's stored position after a restart; an edit keeps
	// the stored position.
	AlertLog LogHead
	// Reports serves /api/v1/reports (reports.go); nil answers 503.
	Reports ReportService
	// Portfolio serves /api/v1/portfolio (portfolio.go), valued at Market's
	// quotes; nil answers 503.
	Portfolio *portfolio.Service
	// Version and Stage are shown on the index page.
	Version string
	Stage   int
	// Dashboard, when set, serves GET requests for every path no route
	// claims (the web dashboard); nil shows a minimal index page at /.
	Dashboard http.Handler
	// Now is the wall clock (defaults to time.Now): it sets the default
	// candle range and decides which candle ranges are closed.
	Now func() time.Time
}

// Limit is a rate: Rate requests per second on average, bursts of up to Burst.
type Limit struct {
	Rate  float64
	Burst int
}

// Config tunes the API. Zero fields take the defaults documented on each.
type Config struct {
	// LiveTTL is how long quotes, symbols, movers and candle ranges that
	// include an open bucket are cached. Default 200 ms.
	LiveTTL time.Duration
	// ClosedTTL is how long candle ranges that are entirely closed are cached
	// (and their Cache-Control max-age). A late tick or a backfill into such a
	// range shows after at most this long. Default 10 s.
	ClosedTTL time.Duration
	// ClosedGrace is how long after a bucket's end (wall clock) it may still
	// be missing ticks in the store (the persister's lag and linger): a
	// range is cached for ClosedTTL only once it ended this long ago, and
	// a read from the store takes the candles of the buckets that ended
	// since from Deps.Recent. Default 2 s; cmd/findash derives it from the
	// persister's bounds (persist.Config.StoredWithin, decision 0071).
	ClosedGrace time.Duration
	// CacheEntries bounds the response cache. Default 10,000.
	CacheEntries int
	// MaxBodyBytes bounds an ingest body; beyond it 413. Default 4 MiB.
	MaxBodyBytes int64
	// IngestTimeout bounds Publish for one request; beyond it 503. Default 10 s.
	IngestTimeout time.Duration
	// CheckTimeout bounds each readiness check. Default 2 s.
	CheckTimeout time.Duration
	// RetryAfter is the Retry-After sent with 503. Default 1 s.
	RetryAfter time.Duration
	// ReadLimit is the rate of read requests per client IP. Default 1000/s,
	// burst 2000. A negative Rate disables it.
	ReadLimit Limit
	// IngestLimit is the rate of ingest requests per API key. Default 200/s,
	// burst 400. A negative Rate disables it.
	IngestLimit Limit
	// AuthIPLimit is the rate of signup and login attempts per client IP.
	// Default 20 a minute, burst 20. A negative Rate disables it.
	AuthIPLimit Limit
	// AuthAccountLimit is the rate of signup and login attempts per client
	// IP and e-mail address (not per address alone, which would let anyone
	// lock its owner out). Default 5 a minute, burst 5. A negative Rate
	// disables it.
	AuthAccountLimit Limit
	// AuthFailLimit is the rate of failed credential lookups per client IP:
	// API keys and session tokens (REST, ingest, GET /ws) that had to be
	// read from a store and were unknown, expired or revoked. Past it, the
	// client's credentials that would be read from a store get 429 before
	// the read; API keys in the key cache and WebSocket tokens still work
	// (decision 0084). Default 60 a minute, burst 60. A negative Rate
	// disables it.
	AuthFailLimit Limit
	// UserLimit is the rate of requests per logged-in user on the account
	// routes (me, API keys, watchlists). Default 20/s, burst 50.
	UserLimit Limit
	// TrustProxy takes the client IP from the last X-Forwarded-For entry
	// (set by the load balancer in front) instead of the peer address.
	TrustProxy bool
	// HeaderTimeout bounds reading a request head (ConfigureServer).
	// Default 10 s.
	HeaderTimeout time.Duration
	// BodyTimeout bounds reading a request body, from the handler's start;
	// beyond it 408 and the connection closes. Default 30 s (a 4 MiB
	// ingest body at 140 KB/s).
	BodyTimeout time.Duration
	// WriteTimeout bounds writing a response from the end of its request's
	// head (ConfigureServer); a report download moves it before each 64 KiB
	// chunk, so it bounds a stall rather than the transfer. WebSocket
	// connections set their own. Default 60 s.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its
	// next request (ConfigureServer). Default 120 s.
	IdleTimeout time.Duration
	// MaxInFlightPerIP bounds the requests one client IP may have in flight
	// at once (health checks aside); beyond it 429. A WebSocket holds one
	// only during its upgrade. Default 100.
	MaxInFlightPerIP int
	// Roles are the roles the instance runs (RoleIngest, RoleGateway,
	// RoleAPI; others, such as "worker", serve no route). A route of a role
	// not listed answers 421 wrong_role; the health checks answer on every
	// role. Empty: every role (one process runs them all).
	Roles []string
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.LiveTTL, 200*time.Millisecond)
	def(&c.ClosedTTL, 10*time.Second)
	def(&c.ClosedGrace, 2*time.Second)
	def(&c.IngestTimeout, 10*time.Second)
	def(&c.CheckTimeout, 2*time.Second)
	def(&c.RetryAfter, time.Second)
	def(&c.HeaderTimeout, 10*time.Second)
	def(&c.BodyTimeout, 30*time.Second)
	def(&c.WriteTimeout, 60*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	if c.MaxInFlightPerIP <= 0 {
		c.MaxInFlightPerIP = 100
	}
	if c.CacheEntries <= 0 {
		c.CacheEntries = 10_000
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 4 << 20
	}
	if c.ReadLimit.Rate == 0 {
		c.ReadLimit = Limit{Rate: 1000, Burst: 2000}
	}
	if c.IngestLimit.Rate == 0 {
		c.IngestLimit = Limit{Rate: 200, Burst: 400}
	}
	if c.AuthIPLimit.Rate == 0 {
		c.AuthIPLimit = Limit{Rate: 20.0 / 60, Burst: 20}
	}
	if c.AuthAccountLimit.Rate == 0 {
		c.AuthAccountLimit = Limit{Rate: 5.0 / 60, Burst: 5}
	}
	if c.AuthFailLimit.Rate == 0 {
		c.AuthFailLimit = Limit{Rate: 1, Burst: 60}
	}
	if c.UserLimit.Rate == 0 {
		c.UserLimit = Limit{Rate: 20, Burst: 50}
	}
}

// API is the REST API. Build it with New, serve Handler.
type API struct {
	d       Deps
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	limiter Limiter
	cache   *cache.Cache[*response]
	// quoteCache holds each symbol's rendered quote (quotes.go's
	// serveQuotesOf), in this process only: the quote is in memory here,
	// so an L2 round trip would cost more than reading it again.
	quoteCache *cache.Cache[*response]
	m          metrics
	ids        idGen
	conns      *connStates // connections accepted through Listener
	inflight   *inFlight
	authFails  *authFails

	draining    atomic.Bool
	readyMu     sync.Mutex
	ready       *readyRound // the last round of readiness checks (health.go); guarded by readyMu
	mux         *http.ServeMux
	handler     http.Handler
	closedCache []string // Cache-Control of closed candle ranges
	patterns    []string // every registered "METHOD /path" pattern, in order
	// routeObs holds each mux pattern's duration histogram children
	// (middleware.go's observe); written only by routes.
	routeObs map[string]*routeObserver
}

// New returns an API serving d. It registers its metrics on reg (nil: not
// registered) and starts no goroutine but the response cache's maintenance,
// stopped by Close. It panics if a required dependency is missing or the
// metrics cannot be registered (a programming error).
func New(d Deps, cfg Config, log *slog.Logger, reg prometheus.Registerer) *API {
	cfg.setDefaults()
	if d.Market == nil || d.Candles == nil || d.Publisher == nil || d.Parse == nil || d.Auth == nil {
		panic("api.New: Market, Candles, Publisher, Parse and Auth are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	a := &API{d: d, cfg: cfg, log: log, now: d.Now, limiter: d.Limiter, ids: newIDGen()}
	if a.now == nil {
		a.now = time.Now
	}
	if a.limiter == nil {
		a.limiter = NewLocalLimiter(100_000, a.now)
	}
	failures := d.Failures
	if failures == nil {
		failures = NewLocalLimiter(100_000, a.now)
	}
	a.authFails = newAuthFails(cfg.AuthFailLimit, failures, a.now)
	c, err := cache.New(cache.Config{Name: "api", MaxEntries: cfg.CacheEntries}, d.Cache, responseCodec, log, reg)
	if err != nil {
		panic(fmt.Sprintf("api.New: %v", err))
	}
	a.cache = c
	if a.quoteCache, err = cache.New(cache.Config{Name: "api_quotes", MaxEntries: cfg.CacheEntries}, nil, cache.Codec[*response]{}, log, reg); err != nil {
		panic(fmt.Sprintf("api.New: %v", err))
	}
	a.m = newMetrics(reg)
	a.conns = &connStates{timeouts: a.m.timeouts}
	a.inflight = newInFlight(cfg.MaxInFlightPerIP)
	a.closedCache = maxAge(cfg.ClosedTTL)
	a.handler = http.HandlerFunc(a.serve)
	a.routes()
	return a
}

// Handler returns the http.Handler of the whole public surface.
func (a *API) Handler() http.Handler { return a.handler }

// SetDraining turns /readyz to 503 (true) or back (false).
func (a *API) SetDraining(v bool) { a.draining.Store(v) }

// Close stops the response caches' maintenance goroutines.
func (a *API) Close() {
	a.cache.Close()
	a.quoteCache.Close()
}

func (a *API) isDraining() bool {
	return a.draining.Load() || (a.d.Draining != nil && a.d.Draining())
}

// Patterns returns every route pattern ("METHOD /path") the API serves, in
// the order routes.go registers them.
func (a *API) Patterns() []string { return slices.Clone(a.patterns) }
