// Package redis is findash's Redis adapter (stage 2+): the shared L2 of the
// response cache (cache.Remote), rate limits counted together by every
// instance (GCRA), and a tiny session store.
//
// Failure. Redis is an optimisation, never a requirement: every call goes
// through one circuit breaker (github.com/sony/gobreaker/v2). After
// Config.BreakerFailures consecutive failures the breaker opens and calls fail
// at once, without touching the network, for Config.BreakerOpen; then it lets
// Config.BreakerProbes calls through (half-open) and closes again when they
// succeed, so the client heals by itself when Redis returns. Check goes
// through the breaker too, so readiness probes alone are enough to heal it
// when no other traffic arrives. Every error this package returns matches
// market.ErrUnavailable with errors.Is, except Session's market.ErrNotFound
// (no such session) and Allow's market.ErrInvalid (a limit Redis cannot
// express): callers fall back to their in-process layer on ErrUnavailable.
// Replies of the server (a miss, a script error) do not count as failures
// of the breaker; a caller's cancellation counts as nothing.
//
// Timeouts are short (dial 500 ms, read and write 200 ms, pool wait 200 ms,
// 500 ms for a whole call), with no command retries and a single dial
// attempt, so a dead or silent Redis costs at most one short timeout per
// call until the breaker opens, and nothing after.
//
// Keys. Everything lives under Config.Prefix (default "findash:"):
// <prefix>cache:<key>, <prefix>session:<id>, and rate-limit state under
// rate:<prefix><key> (github.com/go-redis/redis_rate/v10 prepends "rate:").
//
// Metrics (on the registerer passed to Open): findash_breaker_state
// {dependency="redis"} (0 closed, 1 half-open, 2 open; read at scrape time)
// and findash_redis_errors_total{op} (failed calls, fast failures of an open
// breaker included).
//
// go-redis logs some events (a failed dial) through a process-wide logger;
// SetDriverLogger, called once from main, routes them to slog.
//
// Cache invalidation across instances is not done here: the micro-cache TTLs
// are short (~200 ms) and closed candles do not change.
//
// Concurrency. A Client is safe for concurrent use; it owns the connection
// pool of github.com/redis/go-redis/v9 and starts no goroutine of its own.
//
// Imports. redis imports only the domain (market), go-redis and redis_rate.
// It must not import cache, api or auth: it satisfies their small interfaces
// (cache.Remote, the API's rate limiter, auth.SessionKV) by shape, and only
// cmd/findash imports it.
package redis
