package api_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/gateway"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/gorilla/websocket"
)

// The regressions of decision 0084's review: ways a failed credential
// lookup escaped the per-IP budget, and what the limit took from clients
// it should not have.

// wsAuthFailEnv is authFailEnv with a gateway at GET /ws, authenticated
// as cmd/findash does (CountTokenFailures over the auth service), with a
// budget of 3 failed lookups.
func wsAuthFailEnv(t *testing.T) *authFailEnv {
	t.Helper()
	hubCtx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	hub := gateway.New(market.NewState(), gateway.Config{}, nil, nil)
	go hub.Run(hubCtx)
	e := newAuthFailEnv(t, func(c *api.Config, d *api.Deps) {
		c.AuthFailLimit = api.Limit{Rate: 1.0 / 60, Burst: 3}
		d.WebSocket = hub
	})
	hub.SetAuthenticator(api.CountTokenFailures(e.svc))
	return e
}

// dialWS opens GET /ws+query from ip, with the session cookie when
// cookie is not empty, and returns the handshake's status and, when it
// was refused, the error code of its body; a 429 must say Retry-After.
func (e *authFailEnv) dialWS(t *testing.T, ip, query, cookie string) (int, string) {
	t.Helper()
	h := http.Header{"X-Forwarded-For": {ip}}
	if cookie != "" {
		h.Set("Cookie", api.SessionCookie+"="+cookie)
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws"+strings.TrimPrefix(e.f.srv.URL, "http")+"/ws"+query, h)
	if c != nil {
		c.Close()
	}
	if resp == nil {
		t.Fatalf("dial /ws%s: %v", query, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	code := ""
	if resp.StatusCode != http.StatusSwitchingProtocols {
		code, _ = errorOf(t, b)
	}
	if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
		t.Errorf("429 from /ws without Retry-After")
	}
	return resp.StatusCode, code
}

// TestAuthFailWSEscapedTokenKey: GET /ws?%74oken=fds_… is ?token= to the
// gateway (URL.Query unescapes keys) and must spend the budget like it.
// Before the fix the API looked for a literal "token=" in the raw query,
// let the request past the gate, and 20 random session tokens were 20
// uncounted session reads.
func TestAuthFailWSEscapedTokenKey(t *testing.T) {
	e := wsAuthFailEnv(t)
	refused := false
	for range 20 {
		if st, _ := e.dialWS(t, "203.0.113.7", "?%74oken="+randomToken("fds_"), ""); st == http.StatusTooManyRequests {
			refused = true
			break
		}
	}
	if got := e.sessions.reads.Load(); got > 3 || !refused {
		t.Errorf("session reads of escaped ?token= from one IP with a budget of 3 = %d (refused: %v), want <= 3 then 429", got, refused)
	}
}

// TestAuthFailWSUnadmittedSessionRefused: the gateway's authenticator
// fails closed: a session token in a request serveWebSocket did not admit
// to a lookup is refused without reading the store, so any other way the
// API and the gateway might read a request differently cannot reopen the
// bypass. Before the fix it was read, uncounted.
func TestAuthFailWSUnadmittedSessionRefused(t *testing.T) {
	e := newAuthFailEnv(t)
	tok, _, err := e.svc.CreateSession(t.Context(), e.uid)
	if err != nil {
		t.Fatal(err)
	}
	a := api.CountTokenFailures(e.svc)
	if _, err := a.AuthenticateToken(t.Context(), tok); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("AuthenticateToken(session token, request not admitted) = %v, want ErrUnauthenticated", err)
	}
	if _, _, _, err := a.(gateway.SessionAuthenticator).AuthenticateSession(t.Context(), tok); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("AuthenticateSession(session token, request not admitted) = %v, want ErrUnauthenticated", err)
	}
	if got := e.sessions.reads.Load(); got != 0 {
		t.Errorf("session reads of requests not admitted = %d, want 0", got)
	}
	// A WS token needs no store: still verified.
	wsTok, _ := e.svc.WSToken(auth.Principal{UserID: e.uid})
	if uid, err := a.AuthenticateToken(t.Context(), wsTok); err != nil || uid != e.uid {
		t.Errorf("AuthenticateToken(WS token) = %d, %v, want %d", uid, err, e.uid)
	}
}

// hangUp sends req on a new connection from ip, half-closes it (net/http
// then ends the request's context) and reads what comes back.
func hangUp(t *testing.T, e *authFailEnv, req string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.f.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// slowKeys is the store's API key lookup, each read taking delay (nanoseconds).
type slowKeys struct {
	auth.KeyLookup
	delay atomic.Int64
}

func (s *slowKeys) APIKeyByHash(ctx context.Context, h []byte) (auth.APIKey, error) {
	time.Sleep(time.Duration(s.delay.Load())) // a loaded database; the cache's read ignores the request
	return s.KeyLookup.APIKeyByHash(ctx, h)
}

// TestAuthFailCountsHangUpAPIKey: a client that hangs up after sending its
// request still spends the budget with the API key lookup it caused (the
// key cache's read goes on without it). Before the fix the lookup ended
// with the context's error, not ErrUnauthenticated, and was never
// counted: with a store taking 5 ms, 30 requests, 30 store reads.
func TestAuthFailCountsHangUpAPIKey(t *testing.T) {
	e := newAuthFailEnv(t, func(c *api.Config, _ *api.Deps) { c.AuthFailLimit = api.Limit{Rate: 1.0 / 60, Burst: 3} })
	e.keyStore.delay.Store(int64(5 * time.Millisecond))
	base := e.keyLookups(t)
	for range 30 {
		hangUp(t, e, "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\nAuthorization: Bearer "+randomToken("fd_")+"\r\n\r\n")
	}
	if got := e.keyLookups(t) - base; got > 3 {
		t.Errorf("key lookups of 30 hung-up requests from one IP with a budget of 3 = %v, want <= 3", got)
	}
}

// ctxSlowSessions is a session store whose read takes d and honours ctx
// (as database/sql does mid-query).
type ctxSlowSessions struct {
	auth.SessionStore
	d time.Duration
}

func (s ctxSlowSessions) SessionByHash(ctx context.Context, h []byte) (auth.Session, error) {
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
		return auth.Session{}, ctx.Err()
	}
	return s.SessionStore.SessionByHash(ctx, h)
}

// TestAuthFailCountsHangUpSession: the same with session tokens and a
// store that takes a few milliseconds (a loaded database) and gives up
// with the request. Before the fix: 30 requests, 30 uncounted reads.
func TestAuthFailCountsHangUpSession(t *testing.T) {
	e := newAuthFailEnv(t, func(c *api.Config, _ *api.Deps) { c.AuthFailLimit = api.Limit{Rate: 1.0 / 60, Burst: 3} })
	e.sessions.SessionStore = ctxSlowSessions{e.sessions.SessionStore, 5 * time.Millisecond}
	for range 30 {
		hangUp(t, e, "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\nAuthorization: Bearer "+randomToken("fds_")+"\r\n\r\n")
	}
	if got := e.sessions.reads.Load(); got > 3 {
		t.Errorf("session reads of 30 hung-up requests from one IP with a budget of 3 = %d, want <= 3", got)
	}
}

// TestAuthFailDashboardCookieBlocked: the dashboard connects to bare /ws
// with its session cookie. From an IP over its budget (a noisy neighbour
// behind the same NAT) its cookie is not read but the connection is still
// served, anonymously, as for a failing cookie: market data goes on.
// Before the fix it got 429 and no data at all.
func TestAuthFailDashboardCookieBlocked(t *testing.T) {
	e := wsAuthFailEnv(t)
	for range 3 {
		e.dialWS(t, "203.0.113.7", "?token="+randomToken("fds_"), "")
	}
	tok, _, err := e.svc.CreateSession(t.Context(), e.uid)
	if err != nil {
		t.Fatal(err)
	}
	reads := e.sessions.reads.Load()
	if st, _ := e.dialWS(t, "203.0.113.7", "", tok); st != http.StatusSwitchingProtocols {
		t.Errorf("dashboard /ws (session cookie) from a blocked IP = %d, want 101 (anonymous)", st)
	}
	if got := e.sessions.reads.Load(); got != reads {
		t.Errorf("session reads = %d after a blocked cookie connect, want still %d", got, reads)
	}
	// An explicit ?token= is still refused.
	if st, _ := e.dialWS(t, "203.0.113.7", "?token="+tok, ""); st != http.StatusTooManyRequests {
		t.Errorf("explicit ?token= from a blocked IP = %d, want 429", st)
	}
}

// TestAuthFailLogoutBlockedClearsCookies: a browser logging out from an IP
// over its budget is refused the session lookup (429) but its session and
// CSRF cookies are cleared all the same. Before the fix it kept them.
func TestAuthFailLogoutBlockedClearsCookies(t *testing.T) {
	e := newAuthFailEnv(t, func(c *api.Config, _ *api.Deps) { c.AuthFailLimit = api.Limit{Rate: 1.0 / 60, Burst: 3} })
	for range 3 {
		e.f.program(randomToken("fds_")).must(t, 401, "GET", "/api/v1/me", nil, fromIP("203.0.113.7")...)
	}
	resp, _ := e.f.program(randomToken("fds_")).do(t, "POST", "/api/v1/auth/logout", nil, fromIP("203.0.113.7")...)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("logout from a blocked IP = %d, want 429", resp.StatusCode)
	}
	checkCookiesCleared(t, resp, "429 logout")
}

// storeOnly hides the SQLite store's sessions: an auth service over it
// keeps none.
type storeOnly struct{ auth.Store }

// TestAuthFailLogoutWithoutSessionsNotCounted: without a session store a
// logout reads nothing, so it spends no budget however often it is sent.
// Before the fix each counted (EndSession's "not found"), and the 4th
// logout from the IP was 429.
func TestAuthFailLogoutWithoutSessionsNotCounted(t *testing.T) {
	e := newAuthFailEnv(t, func(c *api.Config, d *api.Deps) {
		c.AuthFailLimit = api.Limit{Rate: 1.0 / 60, Burst: 3}
		svc := auth.NewService(storeOnly{d.Candles.(*sqlite.DB)}, argon2id.New(fastHash, 2), auth.Config{Now: func() time.Time { return testNow }}, nil)
		d.Accounts = svc
	})
	for i := range 6 {
		if resp, _ := e.f.program(randomToken("fds_")).do(t, "POST", "/api/v1/auth/logout", nil, fromIP("203.0.113.7")...); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout #%d without a session store = %d, want 204", i+1, resp.StatusCode)
		}
	}
}

// slowSessions is a session store whose every read takes d.
type slowSessions struct {
	auth.SessionStore
	d time.Duration
}

func (s slowSessions) SessionByHash(ctx context.Context, h []byte) (auth.Session, error) {
	time.Sleep(s.d) // a loaded database, ignoring the request as a query already sent does
	return s.SessionStore.SessionByHash(ctx, h)
}

// TestAuthFailConcurrentLookupsBounded: random session tokens sent
// together from one IP all passed the budget check before any failed, so
// 40 at once were 40 session reads whatever the budget. With at most 8
// lookups in flight per IP (429 beyond) the overshoot is bounded: at most
// budget + 8 - 1 reads (the 8 in flight, and one more for each slot freed
// while the budget lasted). Before the fix: 40 reads.
func TestAuthFailConcurrentLookupsBounded(t *testing.T) {
	e := newAuthFailEnv(t, func(c *api.Config, _ *api.Deps) { c.AuthFailLimit = api.Limit{Rate: 1.0 / 60, Burst: 3} })
	e.sessions.SessionStore = slowSessions{e.sessions.SessionStore, 50 * time.Millisecond}
	const n = 40
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", e.f.srv.URL+"/api/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+randomToken("fds_"))
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			resp, err := e.f.srv.Client().Do(req)
			if err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	limited := 0
	for _, c := range codes {
		if c == http.StatusTooManyRequests {
			limited++
		}
	}
	if got := e.sessions.reads.Load(); got > 3+8-1 || limited == 0 {
		t.Errorf("session reads of %d concurrent random tokens with a budget of 3 = %d (%d × 429), want <= 10 and some 429; codes %v", n, got, limited, codes)
	}
}
