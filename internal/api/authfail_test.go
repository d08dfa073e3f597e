package api_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/gateway"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/redis"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
)

// countingSessions is the fixture's SQLite session store, counting the
// session reads that reach it.
type countingSessions struct {
	auth.SessionStore
	reads atomic.Int64
}

func (c *countingSessions) SessionByHash(ctx context.Context, hash []byte) (auth.Session, error) {
	c.reads.Add(1)
	return c.SessionStore.SessionByHash(ctx, hash)
}

// authFailEnv is an API over the real auth service on the fixture's
// SQLite store, with the API key cache, behind a trusted proxy (so a test
// chooses each request's client IP with X-Forwarded-For).
type authFailEnv struct {
	f        *fixture
	svc      *auth.Service
	keyReg   *prometheus.Registry // the key cache's metrics
	sessions *countingSessions
	keyStore *slowKeys // under the key cache
	key      string    // a valid API key, in the cache once used
	uid      int64
}

func newAuthFailEnv(t *testing.T, opts ...option) *authFailEnv {
	t.Helper()
	e := &authFailEnv{keyReg: prometheus.NewRegistry()}
	withAuth := func(c *api.Config, d *api.Deps) {
		db := d.Candles.(*sqlite.DB)
		now := func() time.Time { return testNow }
		e.keyStore = &slowKeys{KeyLookup: db}
		keys := auth.NewKeyCache(e.keyStore, auth.KeyCacheConfig{Now: now}, nil, e.keyReg)
		t.Cleanup(keys.Close)
		e.sessions = &countingSessions{SessionStore: db}
		e.svc = auth.NewService(db, argon2id.New(fastHash, 2), auth.Config{Now: now, KeyCache: keys, Sessions: e.sessions}, nil)
		d.Auth, d.Accounts = e.svc, e.svc
		c.TrustProxy = true
	}
	e.f = newFixture(t, append([]option{withAuth}, opts...)...)
	u, err := e.svc.CreateUser(t.Context(), "ann@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	e.uid = u.ID
	if e.key, _, err = e.svc.CreateAPIKey(t.Context(), u.ID, "feed"); err != nil {
		t.Fatal(err)
	}
	return e
}

// keyLookups is how many API key lookups reached the store.
func (e *authFailEnv) keyLookups(t *testing.T) float64 {
	t.Helper()
	return gathered(t, e.keyReg, "findash_auth_apikey_cache_lookups_total", "result=miss")
}

// randomToken is a well-formed credential of kind prefix ("fd_", "fds_")
// that no store holds.
func randomToken(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func fromIP(ip string) []string { return []string{"X-Forwarded-For", ip} }

var tickBody = fmt.Sprintf(`[{"symbol":"AAPL","ts":%d,"price":1}]`, t0)

// TestAuthFailLimitREST: random API keys and session tokens from one IP
// each cost a store lookup until the default budget (60 failures, at 60 a
// minute) is spent; then that IP's credentials that would reach the store
// get 429 rate_limited with Retry-After and no lookup, while its cached
// key still ingests and another IP is not affected. Before the limit,
// every random credential was a lookup, however many.
func TestAuthFailLimitREST(t *testing.T) {
	e := newAuthFailEnv(t)
	attacker, neighbour := fromIP("203.0.113.7"), fromIP("198.51.100.4")
	// The feed's key, used once from the attacker's address (a NAT): cached.
	e.f.program(e.key).must(t, 202, "POST", "/api/v1/ticks", tickBody, attacker...)
	base := e.keyLookups(t)

	const burst = 60
	first := randomToken("fd_")
	e.f.program(first).must(t, 401, "POST", "/api/v1/ticks", tickBody, attacker...)
	for range burst - 1 {
		e.f.program(randomToken("fd_")).must(t, 401, "POST", "/api/v1/ticks", tickBody, attacker...)
	}
	if got := e.keyLookups(t) - base; got != burst {
		t.Fatalf("store lookups of %d random keys = %v, want %d", burst, got, burst)
	}
	// Over budget: refused before the store, for keys and sessions alike.
	resp, b := e.f.program(randomToken("fd_")).do(t, "POST", "/api/v1/ticks", tickBody, attacker...)
	if code, _ := errorOf(t, b); resp.StatusCode != 429 || code != "rate_limited" || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("random key past the budget = %d %s Retry-After %q, want 429 rate_limited Retry-After 1",
			resp.StatusCode, code, resp.Header.Get("Retry-After"))
	}
	sessReads := e.sessions.reads.Load()
	resp, b = e.f.program(randomToken("fds_")).do(t, "GET", "/api/v1/me", nil, attacker...)
	if code, _ := errorOf(t, b); resp.StatusCode != 429 || code != "rate_limited" {
		t.Errorf("random session token past the budget = %d %s, want 429 rate_limited", resp.StatusCode, code)
	}
	resp, _ = e.f.program(randomToken("fds_")).do(t, "POST", "/api/v1/auth/logout", nil, attacker...)
	if resp.StatusCode != 429 {
		t.Errorf("logout with a random session token past the budget = %d, want 429", resp.StatusCode)
	}
	if got := e.keyLookups(t) - base; got != burst {
		t.Errorf("store lookups of keys = %v after the budget was spent, want still %d", got, burst)
	}
	if got := e.sessions.reads.Load(); got != sessReads {
		t.Errorf("session reads = %d after the budget was spent, want still %d", got, sessReads)
	}
	// The cached key still ingests from that address, without a lookup.
	e.f.program(e.key).must(t, 202, "POST", "/api/v1/ticks", tickBody, attacker...)
	// A key the cache knows as unknown (within its negative TTL) is still
	// answered 401: it costs no lookup either.
	e.f.program(first).must(t, 401, "POST", "/api/v1/ticks", tickBody, attacker...)
	if v := e.f.metric(t, "findash_http_rate_limited_total", "class=auth_fail_ip"); v != 3 {
		t.Errorf(`findash_http_rate_limited_total{class="auth_fail_ip"} = %v, want 3`, v)
	}
	// Another address has its own budget.
	e.f.program(randomToken("fd_")).must(t, 401, "POST", "/api/v1/ticks", tickBody, neighbour...)
	tok, _, err := e.svc.CreateSession(t.Context(), e.uid)
	if err != nil {
		t.Fatal(err)
	}
	e.f.program(tok).must(t, 200, "GET", "/api/v1/me", nil, neighbour...)
	// A valid session token from the blocked address needs the store:
	// refused too, until the budget refills (decision 0084).
	if resp, _ := e.f.program(tok).do(t, "GET", "/api/v1/me", nil, attacker...); resp.StatusCode != 429 {
		t.Errorf("valid session token from the blocked address = %d, want 429", resp.StatusCode)
	}
	if got := e.keyLookups(t) - base; got != burst+1 {
		t.Errorf("store lookups of keys = %v, want %d (the neighbour's one more)", got, burst+1)
	}
}

// TestAuthFailLimitCountsOnlyLookups: good credentials, and bad ones
// answered without the store (a malformed token, a key the cache already
// knows is unknown), spend nothing: a client may send them any number of
// times and still has its whole budget. A logout with an unknown session
// spends one, as any failed lookup does.
func TestAuthFailLimitCountsOnlyLookups(t *testing.T) {
	e := newAuthFailEnv(t, func(c *api.Config, _ *api.Deps) { c.AuthFailLimit = api.Limit{Rate: 1.0 / 60, Burst: 3} })
	ip := fromIP("203.0.113.9")
	tok, _, err := e.svc.CreateSession(t.Context(), e.uid)
	if err != nil {
		t.Fatal(err)
	}
	known := randomToken("fd_")
	e.f.program(known).must(t, 401, "POST", "/api/v1/ticks", tickBody, ip...) // 1 of 3
	for range 10 {
		e.f.program(e.key).must(t, 202, "POST", "/api/v1/ticks", tickBody, ip...)
		e.f.program(tok).must(t, 200, "GET", "/api/v1/me", nil, ip...)
		e.f.program("fd_short").must(t, 401, "POST", "/api/v1/ticks", tickBody, ip...)
		e.f.program(known).must(t, 401, "POST", "/api/v1/ticks", tickBody, ip...) // the negative cache
	}
	e.f.program(randomToken("fds_")).must(t, 401, "GET", "/api/v1/me", nil, ip...) // 2 of 3
	// Logout with a session the store does not hold is 204 (idempotent), but
	// it was a lookup that failed: 3 of 3.
	e.f.program(randomToken("fds_")).must(t, 204, "POST", "/api/v1/auth/logout", nil, ip...)
	e.f.program(randomToken("fd_")).must(t, 429, "POST", "/api/v1/ticks", tickBody, ip...)
}

// TestAuthFailLimitOff: a negative rate disables the limit.
func TestAuthFailLimitOff(t *testing.T) {
	e := newAuthFailEnv(t, func(c *api.Config, _ *api.Deps) { c.AuthFailLimit = api.Limit{Rate: -1} })
	for range 80 {
		e.f.program(randomToken("fd_")).must(t, 401, "POST", "/api/v1/ticks", tickBody, fromIP("203.0.113.7")...)
	}
}

// TestAuthFailLimitWebSocket: GET /ws with random session tokens (?token=
// or the session cookie) spends the same budget, each failure a session
// read; past it ?token= is refused 429 before the read and the cookie is
// not read (the connection is anonymous); a signed WS token,
// checked without the store, still connects from that address, and
// another address is not affected.
func TestAuthFailLimitWebSocket(t *testing.T) {
	hubCtx, stop := context.WithCancel(context.Background())
	defer stop()
	hub := gateway.New(market.NewState(), gateway.Config{}, nil, nil)
	go hub.Run(hubCtx)
	e := newAuthFailEnv(t, func(c *api.Config, d *api.Deps) {
		c.AuthFailLimit = api.Limit{Rate: 1.0 / 60, Burst: 3}
		d.WebSocket = hub
	})
	hub.SetAuthenticator(api.CountTokenFailures(e.svc)) // as cmd/findash does
	dial := func(ip, query, cookie string) (int, string) { t.Helper(); return e.dialWS(t, ip, query, cookie) }
	const attacker, neighbour = "203.0.113.7", "198.51.100.4"
	for i := range 3 {
		if st, _ := dial(attacker, "?token="+randomToken("fds_"), ""); st != 401 {
			t.Fatalf("random session token #%d = %d, want 401", i+1, st)
		}
	}
	reads := e.sessions.reads.Load()
	if reads != 3 {
		t.Fatalf("session reads = %d, want 3", reads)
	}
	if st, code := dial(attacker, "?token="+randomToken("fds_"), ""); st != 429 || code != "rate_limited" {
		t.Errorf("random session token past the budget = %d %s, want 429 rate_limited", st, code)
	}
	// The session cookie (the dashboard's) is not read either, but the
	// connection is served anonymously, as for a failing cookie.
	if st, _ := dial(attacker, "", randomToken("fds_")); st != http.StatusSwitchingProtocols {
		t.Errorf("random session cookie past the budget = %d, want 101 (anonymous)", st)
	}
	if got := e.sessions.reads.Load(); got != reads {
		t.Errorf("session reads = %d after the budget was spent, want still %d", got, reads)
	}
	wsTok, _ := e.svc.WSToken(auth.Principal{UserID: e.uid})
	if st, _ := dial(attacker, "?token="+wsTok, ""); st != http.StatusSwitchingProtocols {
		t.Errorf("WS token from the blocked address = %d, want 101", st)
	}
	if st, _ := dial(attacker, "", ""); st != http.StatusSwitchingProtocols {
		t.Errorf("anonymous connect from the blocked address = %d, want 101", st)
	}
	if st, _ := dial(neighbour, "?token="+randomToken("fds_"), ""); st != 401 {
		t.Errorf("random session token from another address = %d, want 401", st)
	}
	if v := e.f.metric(t, "findash_http_rate_limited_total", "class=auth_fail_ip"); v != 2 {
		t.Errorf(`findash_http_rate_limited_total{class="auth_fail_ip"} = %v, want 2`, v)
	}
}

// redisFailures counts failures in Redis, as cmd/findash's shared limiter
// does (without its in-process fallback).
type redisFailures struct{ c *redis.Client }

func (r redisFailures) Fail(ctx context.Context, key string, l api.Limit) (time.Duration, error) {
	return r.c.Spend(ctx, key, l.Rate, l.Burst)
}

// TestAuthFailLimitSharedInRedis: two instances counting in one Redis
// share a client's budget. The instance that counted the last failure
// the budget allows refuses the next before its lookup; the other learns
// of it at its own next failure, which costs one more lookup (so at most
// one per instance per wait beyond the budget, decision 0084).
func TestAuthFailLimitSharedInRedis(t *testing.T) {
	r := testenv.Redis(t)
	c, err := redis.Open(t.Context(), r.URL, redis.Config{Prefix: r.Prefix}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	shared := func(cfg *api.Config, d *api.Deps) {
		cfg.AuthFailLimit = api.Limit{Rate: 1.0 / 60, Burst: 4}
		d.Failures = redisFailures{c}
	}
	a, b := newAuthFailEnv(t, shared), newAuthFailEnv(t, shared)
	ip := fromIP("203.0.113.7")
	for i := range 4 {
		e := []*authFailEnv{a, b}[i%2]
		e.f.program(randomToken("fd_")).must(t, 401, "POST", "/api/v1/ticks", tickBody, ip...)
	}
	lookups := func() float64 { return a.keyLookups(t) + b.keyLookups(t) }
	if got := lookups(); got != 4 {
		t.Fatalf("lookups = %v, want 4", got)
	}
	b.f.program(randomToken("fd_")).must(t, 429, "POST", "/api/v1/ticks", tickBody, ip...)
	a.f.program(randomToken("fd_")).must(t, 401, "POST", "/api/v1/ticks", tickBody, ip...) // learns here
	a.f.program(randomToken("fd_")).must(t, 429, "POST", "/api/v1/ticks", tickBody, ip...)
	if got := lookups(); got != 5 {
		t.Errorf("lookups = %v, want 5 (the budget, and one for the instance that had not seen it spent)", got)
	}
	// Another address, on either instance, has its own budget.
	a.f.program(randomToken("fd_")).must(t, 401, "POST", "/api/v1/ticks", tickBody, fromIP("198.51.100.4")...)
}
