// Package api serves findash's REST API (docs/reference/http.md) on the public
// listener: health (/livez, /readyz), market data (symbols, quotes, candles,
// movers), tick ingest (POST /api/v1/ticks), the OpenAPI document, the
// WebSocket endpoint it mounts (/ws) and a small index page.
//
// routes.go lists the whole surface in one function. Every request passes
// one middleware (middleware.go) that sets the request id (X-Request-Id in
// and out), counts in-flight requests, recovers panics into a 500, observes
// findash_http_request_duration_seconds by route pattern and status, and
// writes one access-log line.
//
// Errors become HTTP statuses in exactly one function, writeError
// (errors.go): market.ErrInvalid 400, ErrNotFound 404, ErrConflict 409,
// ErrUnavailable 503 with Retry-After, auth.ErrUnauthenticated 401, and
// anything else a 500 "internal error" to the client plus one log line.
// The body is always {"error":{"code":"snake_case","message":"…"}}.
//
// Reads are cached (read.go) through internal/cache: responses of quotes,
// symbols, movers and live candle ranges for Config.LiveTTL (~200 ms), candle
// ranges that are entirely closed for Config.ClosedTTL. Every cached body
// carries a strong ETag (a hash of the body) and a Cache-Control; a matching
// If-None-Match gets 304. A miss is computed once however many requests wait.
//
// Rate limits (ratelimit.go) go through the small Limiter interface so a
// shared (Redis GCRA) limiter can replace the in-process one: reads per client
// IP, ingest per API key; 429 with Retry-After beyond. A limiter error lets
// the request through (fail open) and is logged. Failed credential lookups
// are limited per client IP (authfail.go, decision 0084): the key cache is
// asked first, and only a credential that would reach the store is refused
// while the client is over its budget.
//
// Accounts (accounts.go, watchlists.go, csrf.go): signup, login (session
// cookie + bearer token), logout, /me, WebSocket tokens, API keys and
// watchlists. withSession authenticates a session cookie or bearer session
// token (API keys: 403), enforces the CSRF double submit on cookie-
// authenticated writes (403 csrf_failed) and limits per user; signup and
// login are limited per IP and per e-mail. See docs/decisions/0004.
//
// Concurrency. An API is safe for concurrent use; it starts no goroutines
// of its own except the cache's maintenance goroutine, stopped by Close.
//
// Imports. api imports the domain and feature packages it serves (market,
// alert, auth, report, watchlist) and the cache. It must not import a driver
// or an adapter (stores, the bus, Redis, object storage, the job queue):
// every dependency is a small interface declared here (Market, CandleStore,
// Publisher, Authenticator, Limiter, AlertStore, ReportService) and wired by
// cmd/findash.
package api
