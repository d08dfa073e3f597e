package api

// The limit of failed credential checks per client IP (decision 0084):
// an unknown, expired or revoked API key or session token that had to be
// read from a store counts against Config.AuthFailLimit; past it, the
// client's credentials that would reach the store are refused with 429
// before the read, while what the process can check alone (an API key in
// the key cache, a signed WebSocket token) is still answered.

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/findash/findash/internal/auth"
)

// FailureLimiter counts failures per key against a limit (satisfied by
// *LocalLimiter; cmd/findash's Redis-backed limiter shares the count
// between instances).
type FailureLimiter interface {
	// Fail counts one failure under key against l and returns how long
	// until another would be within l: 0 while at least one more is. An
	// error means the failure could not be counted.
	Fail(ctx context.Context, key string, l Limit) (wait time.Duration, err error)
}

// maxBlocked bounds the clients remembered as over their budget.
const maxBlocked = 100_000

// maxLookupsInFlight bounds the credential lookups one client IP may have
// in flight at once (beyond it 429). The check (over the budget?) and the
// count (a failure) are two steps, so lookups in flight together all pass
// the check: this bounds by how much one client can overshoot its budget.
const maxLookupsInFlight = 8

// authFails is the per-client-IP gate of credential lookups.
//
// The count lives in the FailureLimiter (shared in Redis when configured);
// whether a client is over its budget is remembered here, in process, for
// as long as Fail said: so checking costs no I/O, and a client over the
// budget costs no round trip to Redis either. Another instance learns of
// it at the client's first failure there, so each instance lets through
// at most one more lookup per wait than the shared budget allows.
//
// Bound and overflow: at most about maxBlocked clients, in 32 shards;
// a full shard forgets the clients whose wait has passed, then, if that
// frees less than a quarter of it, every client in it (they may fail up
// to one more time each before being refused again).
type authFails struct {
	lim      Limit
	counter  FailureLimiter
	now      func() time.Time
	seed     maphash.Seed
	perShard int
	shards   [limiterShards]blockShard
}

type blockShard struct {
	mu       sync.Mutex
	m        map[string]time.Time // client → refused until
	inflight map[string]int       // client → lookups in flight (no zeros: at most one entry per request in flight)
}

func newAuthFails(lim Limit, counter FailureLimiter, now func() time.Time) *authFails {
	f := &authFails{lim: lim, counter: counter, now: now, seed: maphash.MakeSeed(), perShard: maxBlocked/limiterShards + 1}
	for i := range f.shards {
		f.shards[i].m = make(map[string]time.Time)
		f.shards[i].inflight = make(map[string]int)
	}
	return f
}

func (f *authFails) shard(ip string) *blockShard {
	return &f.shards[maphash.String(f.seed, ip)%limiterShards]
}

// blocked returns how long ip stays over its budget (0: it is not).
func (f *authFails) blocked(ip string) time.Duration {
	s := f.shard(ip)
	s.mu.Lock()
	until, ok := s.m[ip]
	s.mu.Unlock()
	if !ok {
		return 0
	}
	return max(until.Sub(f.now()), 0)
}

// begin takes one of ip's maxLookupsInFlight lookups, false when all are
// taken; end gives it back.
func (f *authFails) begin(ip string) bool {
	s := f.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[ip] >= maxLookupsInFlight {
		return false
	}
	s.inflight[ip]++
	return true
}

func (f *authFails) end(ip string) {
	s := f.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.inflight[ip] - 1; n > 0 {
		s.inflight[ip] = n
	} else {
		delete(s.inflight, ip)
	}
}

// fail counts a failed lookup of ip and remembers it as over its budget
// when Fail says so.
func (f *authFails) fail(ctx context.Context, ip string) error {
	wait, err := f.counter.Fail(ctx, "auth_fail_ip:"+ip, f.lim)
	if err != nil || wait <= 0 {
		return err
	}
	now := f.now()
	s := f.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[ip]; !ok && len(s.m) >= f.perShard {
		n := len(s.m)
		for k, until := range s.m {
			if !until.After(now) {
				delete(s.m, k)
			}
		}
		if len(s.m) > n*3/4 {
			clear(s.m)
		}
	}
	s.m[ip] = now.Add(wait)
	return nil
}

// checkCredential resolves token as the Authenticator does, under the limit
// of failed lookups of r's client (Config.AuthFailLimit): what
// AuthenticateCached answers costs nothing; a credential that needs the
// store is refused with 429 rate_limited while the client is over its
// budget, and counted against it when the store does not know it (a store
// failure is not the client's and is not counted).
func (a *API) checkCredential(w http.ResponseWriter, r *http.Request, token string) (auth.Principal, error) {
	if a.cfg.AuthFailLimit.Rate < 0 {
		return a.d.Auth.Authenticate(r.Context(), token)
	}
	p, err := a.d.Auth.AuthenticateCached(r.Context(), token)
	if !errors.Is(err, auth.ErrNeedsLookup) {
		return p, err
	}
	ip := a.clientIP(r)
	if err := a.admitLookup(ip); err != nil {
		return auth.Principal{}, err
	}
	defer a.authFails.end(ip) // after the count
	p, err = a.d.Auth.Authenticate(r.Context(), token)
	if lookupFailed(r.Context(), err) {
		a.countFailure(w, r, ip)
	}
	return p, err
}

// lookupFailed reports whether a lookup made under ctx that returned err
// counts against the client: the store did not know the credential, or
// the request ended before the lookup did. The latter counts because the
// store read may still have been made (the key cache's load runs on its
// own goroutine; a session read may have reached the database): a client
// that hangs up mid-lookup must not get lookups for free.
func lookupFailed(ctx context.Context, err error) bool {
	return errors.Is(err, auth.ErrUnauthenticated) || (err != nil && ctx.Err() != nil)
}

// admitLookup returns the 429 of a client over its failed-lookup budget or
// with maxLookupsInFlight lookups in flight, or nil: then the caller owns
// one of those and gives it back with a.authFails.end(ip) once the lookup
// has been counted.
func (a *API) admitLookup(ip string) error {
	wait := a.authFails.blocked(ip)
	if wait <= 0 && a.authFails.begin(ip) {
		return nil
	}
	a.m.rateLimited.WithLabelValues("auth_fail_ip").Inc()
	return errRateLimited(int(math.Ceil(max(wait.Seconds(), 1))))
}

// countFailure counts a failed lookup of ip. A limiter error lets the
// failure go uncounted (logged): limits protect the service, they must not
// take it down. The count does not end with the request (a client that
// hung up is counted too).
func (a *API) countFailure(w http.ResponseWriter, r *http.Request, ip string) {
	if err := a.authFails.fail(context.WithoutCancel(r.Context()), ip); err != nil {
		a.logFor(w).LogAttrs(r.Context(), slog.LevelWarn, "failed-credential limiter failed; failure not counted", slog.Any("err", err))
	}
}

// TokenAuthenticator resolves a WebSocket credential to a user: the
// gateway's Authenticator (satisfied by *auth.Service).
type TokenAuthenticator interface {
	AuthenticateToken(ctx context.Context, token string) (userID int64, err error)
}

// CountTokenFailures wraps the gateway's authenticator so that GET /ws can
// count, against the client's budget of failed credential lookups
// (Config.AuthFailLimit), a session token the store did not know. Give
// the gateway the result. Outside a /ws request served by an API it is
// inner itself.
// When inner also names the session of a credential (SessionTokenAuthenticator,
// as *auth.Service does) so does the result, so that the gateway still closes
// connections when their session ends (decision 0083).
func CountTokenFailures(inner TokenAuthenticator) TokenAuthenticator {
	if s, ok := inner.(SessionTokenAuthenticator); ok {
		return sessionTokenFailures{tokenFailures{inner}, s}
	}
	return tokenFailures{inner}
}

// SessionTokenAuthenticator is a TokenAuthenticator that also names the
// session a credential is or was made from, and tells which sessions are
// still live: the gateway's SessionAuthenticator.
type SessionTokenAuthenticator interface {
	TokenAuthenticator
	AuthenticateSession(ctx context.Context, token string) (userID int64, session string, expires time.Time, err error)
	LiveSessions(ctx context.Context, sessions []string) ([]bool, error)
}

type tokenFailures struct{ inner TokenAuthenticator }

type sessionTokenFailures struct {
	tokenFailures
	s SessionTokenAuthenticator
}

func (t sessionTokenFailures) AuthenticateSession(ctx context.Context, token string) (int64, string, time.Time, error) {
	if err := refuseUnadmitted(ctx, token); err != nil {
		return 0, "", time.Time{}, err
	}
	uid, sess, exp, err := t.s.AuthenticateSession(ctx, token)
	t.failed(ctx, err)
	return uid, sess, exp, err
}

func (t sessionTokenFailures) LiveSessions(ctx context.Context, sessions []string) ([]bool, error) {
	return t.s.LiveSessions(ctx, sessions)
}

// failed marks a /ws request's lookup failed when it counts against the
// client (lookupFailed).
func (tokenFailures) failed(ctx context.Context, err error) {
	if lookupFailed(ctx, err) {
		if l, ok := ctx.Value(wsLookupKey{}).(*wsLookup); ok {
			l.failed.Store(true)
		}
	}
}

// refuseUnadmitted fails closed: a session token the gateway would read
// from the store, in a request serveWebSocket did not admit to a lookup
// (it read the request's credential differently from the gateway, or the
// request did not come through it), is refused without the read, so no
// lookup escapes the limit uncounted.
func refuseUnadmitted(ctx context.Context, token string) error {
	if !auth.IsSessionToken(strings.TrimSpace(token)) {
		return nil
	}
	if l, ok := ctx.Value(wsLookupKey{}).(*wsLookup); ok && l.admitted {
		return nil
	}
	return fmt.Errorf("websocket session token not admitted to a lookup: %w", auth.ErrUnauthenticated)
}

// wsLookupKey is the context key of a /ws request's *wsLookup.
type wsLookupKey struct{}

// wsLookup is what serveWebSocket tells the authenticator of a /ws
// request: whether a session-token lookup is admitted (the client is
// within its budget, or the limit is off), and records that it failed.
type wsLookup struct {
	admitted bool
	failed   atomic.Bool
}

func (t tokenFailures) AuthenticateToken(ctx context.Context, token string) (int64, error) {
	if err := refuseUnadmitted(ctx, token); err != nil {
		return 0, err
	}
	uid, err := t.inner.AuthenticateToken(ctx, token)
	t.failed(ctx, err)
	return uid, err
}

// wsCredential returns the credential GET /ws authenticates, read exactly
// as the gateway reads it (URL.Query, so an escaped key such as %74oken
// is ?token= too): ?token=, else the session cookie; and whether it came
// from the cookie.
func wsCredential(r *http.Request) (token string, cookie bool) {
	if r.URL.RawQuery != "" {
		if tok := r.URL.Query().Get("token"); tok != "" {
			return tok, false
		}
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value, true
	}
	return "", false
}

// withoutSessionCookie returns r without its session cookie (other
// cookies kept), so that the gateway serves it anonymously.
func withoutSessionCookie(r *http.Request) *http.Request {
	r = r.Clone(r.Context())
	cs := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cs {
		if c.Name != SessionCookie {
			r.AddCookie(c)
		}
	}
	return r
}

// serveWebSocket hands r to the gateway under the failed-lookup limit: a
// session token (the one WebSocket credential read from a store; a WS
// token is verified in process) is counted when it fails and, while the
// client is over its budget, is not read: an explicit ?token= is refused
// with 429; the session cookie (the dashboard's) is dropped and the
// connection served anonymously, as for a failing cookie, so the dashboard
// keeps its market data.
func (a *API) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	token, cookie := wsCredential(r)
	if a.cfg.AuthFailLimit.Rate < 0 || !auth.IsSessionToken(strings.TrimSpace(token)) {
		// Admitted: with the limit off any lookup; else no session token
		// was seen, and should the gateway find one, refuseUnadmitted
		// answers it.
		l := &wsLookup{admitted: a.cfg.AuthFailLimit.Rate < 0}
		a.d.WebSocket.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), wsLookupKey{}, l)))
		return
	}
	ip := a.clientIP(r)
	if err := a.admitLookup(ip); err != nil {
		if !cookie {
			a.writeError(w, r, err)
			return
		}
		r = withoutSessionCookie(r)
		a.d.WebSocket.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), wsLookupKey{}, &wsLookup{})))
		return
	}
	defer a.authFails.end(ip) // after the count
	l := &wsLookup{admitted: true}
	a.d.WebSocket.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), wsLookupKey{}, l)))
	if l.failed.Load() {
		a.countFailure(w, r, ip)
	}
}
