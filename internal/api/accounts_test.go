package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/gateway"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/watchlist"
)

// fastHash keeps argon2id cheap in tests; internal/auth tests the real cost.
var fastHash = argon2id.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// withAccounts serves the real auth and watchlist services over the
// fixture's SQLite store, on the fixture's clock.
func withAccounts(c *api.Config, d *api.Deps) {
	db := d.Candles.(*sqlite.DB)
	now := func() time.Time { return testNow }
	svc := auth.NewService(db, argon2id.New(fastHash, 2), auth.Config{Now: now}, nil)
	d.Auth, d.Accounts = svc, svc
	d.Watchlists = watchlist.NewService(db, watchlist.Config{Now: now})
}

func newAccountsFixture(t *testing.T, opts ...option) *fixture {
	return newFixture(t, append([]option{withAccounts}, opts...)...)
}

// client is a browser (cookie jar) or a program (bearer token).
type client struct {
	f      *fixture
	hc     *http.Client
	bearer string
	header http.Header // sent on every request
}

func (f *fixture) browser(t *testing.T) *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := *f.srv.Client()
	hc.Jar = jar
	return &client{f: f, hc: &hc, header: http.Header{}}
}

func (f *fixture) program(token string) *client {
	return &client{f: f, hc: f.srv.Client(), bearer: token, header: http.Header{}}
}

// cookie returns the value of the named cookie the browser holds.
func (c *client) cookie(name string) string {
	u, _ := http.NewRequest("GET", c.f.srv.URL+"/", nil)
	for _, ck := range c.hc.Jar.Cookies(u.URL) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// do sends body (JSON-encoded unless a string or nil) and returns the
// response and its body.
func (c *client) do(t *testing.T, method, path string, body any, header ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json") // JSON only (415 otherwise)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// must sends a request and fails unless the status is want.
func (c *client) must(t *testing.T, want int, method, path string, body any, header ...string) []byte {
	t.Helper()
	resp, b := c.do(t, method, path, body, header...)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	return b
}

// signupLogin creates an account and logs a browser in; the browser then
// sends the CSRF header on every request, like the dashboard does.
func (f *fixture) signupLogin(t *testing.T, email string) (browser *client, token string) {
	t.Helper()
	anon := f.program("")
	anon.must(t, 201, "POST", "/api/v1/auth/signup", map[string]string{"email": email, "password": "correct horse"})
	b := f.browser(t)
	var out struct{ Token string }
	if err := json.Unmarshal(b.must(t, 200, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "correct horse"}), &out); err != nil {
		t.Fatal(err)
	}
	b.header.Set(api.CSRFHeader, b.cookie(api.CSRFCookie))
	return b, out.Token
}

var (
	sessionRE = regexp.MustCompile(`fds_[A-Za-z0-9_-]{43}`)
	keyRE     = regexp.MustCompile(`"fd_[A-Za-z0-9_-]{43}"`)
	wsRE      = regexp.MustCompile(`fdw_[A-Za-z0-9_-]{118}`)
	prefixRE  = regexp.MustCompile(`"prefix": "fd_[A-Za-z0-9_-]{8}"`)
)

// mask replaces the random secrets of a body so it can be a golden file.
func mask(b []byte) []byte {
	b = sessionRE.ReplaceAll(b, []byte("fds_<session>"))
	b = keyRE.ReplaceAll(b, []byte(`"fd_<secret>"`))
	b = prefixRE.ReplaceAll(b, []byte(`"prefix": "fd_<prefix>"`))
	return wsRE.ReplaceAll(b, []byte("fdw_<ws-token>"))
}

// TestAccountsGolden pins the JSON of the account and watchlist routes.
func TestAccountsGolden(t *testing.T) {
	f := newAccountsFixture(t)
	anon := f.program("")
	type step struct {
		name, method, path string
		body               any
		status             int
	}
	ann, _ := f.signupLogin(t, "ann@example.com")
	run := func(c *client, steps []step) {
		for _, s := range steps {
			t.Run(s.name, func(t *testing.T) {
				resp, body := c.do(t, s.method, s.path, s.body)
				if resp.StatusCode != s.status {
					t.Fatalf("%s %s = %d %s, want %d", s.method, s.path, resp.StatusCode, body, s.status)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
				if s.status >= 400 {
					errorOf(t, body)
				}
				golden(t, s.name, mask(indent(t, body)))
			})
		}
	}
	run(anon, []step{
		{"signup", "POST", "/api/v1/auth/signup", map[string]string{"email": " Bob@Example.com", "password": "0123456789"}, 201},
		{"error_signup_taken", "POST", "/api/v1/auth/signup", map[string]string{"email": "bob@example.com", "password": "0123456789"}, 409},
		{"error_signup_short_password", "POST", "/api/v1/auth/signup", map[string]string{"email": "eve@example.com", "password": "012345678"}, 400},
		{"error_signup_bad_email", "POST", "/api/v1/auth/signup", map[string]string{"email": "eve", "password": "0123456789"}, 400},
		{"error_bad_body", "POST", "/api/v1/auth/signup", `{"email":"eve@example.com","password":"0123456789","admin":true}`, 400},
		{"login", "POST", "/api/v1/auth/login", map[string]string{"email": "bob@example.com", "password": "0123456789"}, 200},
		{"error_login_wrong", "POST", "/api/v1/auth/login", map[string]string{"email": "bob@example.com", "password": "0123456780"}, 401},
		{"error_unauthenticated", "GET", "/api/v1/me", nil, 401},
	})
	run(ann, []step{
		{"me", "GET", "/api/v1/me", nil, 200},
		{"ws_token", "POST", "/api/v1/auth/ws-token", nil, 200},
		{"apikey_create", "POST", "/api/v1/apikeys", map[string]string{"name": "laptop"}, 201},
		{"apikeys", "GET", "/api/v1/apikeys", nil, 200},
		{"watchlist_create", "POST", "/api/v1/watchlists", map[string]any{"name": "Crypto", "symbols": []string{"BTC-USD", "ETH-USD", "BTC-USD"}}, 201},
		{"watchlist_put", "PUT", "/api/v1/watchlists/1", map[string]any{"name": "Coins", "symbols": []string{"SOL-USD"}}, 200},
		{"watchlist", "GET", "/api/v1/watchlists/1", nil, 200},
		{"watchlists", "GET", "/api/v1/watchlists", nil, 200},
		{"error_watchlist_symbol", "POST", "/api/v1/watchlists", map[string]any{"name": "x", "symbols": []string{"AAPL", "btc"}}, 400},
		{"error_watchlist_not_found", "GET", "/api/v1/watchlists/99", nil, 404},
	})
	csrfless := *ann
	csrfless.header = http.Header{}
	run(&csrfless, []step{{"error_csrf", "POST", "/api/v1/watchlists", map[string]any{"name": "x"}, 403}})
}

func TestLoginCookies(t *testing.T) {
	tests := []struct {
		name       string
		trustProxy bool
		header     []string
		secure     bool
	}{
		{"plain http", false, nil, false},
		{"proxy says https, trusted", true, []string{"X-Forwarded-Proto", "https"}, true},
		{"proxy says https, not trusted", false, []string{"X-Forwarded-Proto", "https"}, false},
		{"trusted proxy, http", true, []string{"X-Forwarded-Proto", "http"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newAccountsFixture(t, func(c *api.Config, _ *api.Deps) { c.TrustProxy = tc.trustProxy })
			anon := f.program("")
			anon.must(t, 201, "POST", "/api/v1/auth/signup", map[string]string{"email": "ann@example.com", "password": "0123456789"})
			resp, body := anon.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": "ann@example.com", "password": "0123456789"}, tc.header...)
			if resp.StatusCode != 200 {
				t.Fatalf("login = %d %s", resp.StatusCode, body)
			}
			var out struct{ Token string }
			json.Unmarshal(body, &out)
			cookies := map[string]*http.Cookie{}
			for _, c := range resp.Cookies() {
				cookies[c.Name] = c
			}
			s, c := cookies[api.SessionCookie], cookies[api.CSRFCookie]
			if s == nil || c == nil {
				t.Fatalf("Set-Cookie = %q, want %s and %s", resp.Header.Values("Set-Cookie"), api.SessionCookie, api.CSRFCookie)
			}
			if s.Value != out.Token || !s.HttpOnly || s.SameSite != http.SameSiteLaxMode || s.Path != "/" || s.Secure != tc.secure || s.MaxAge != 30*24*3600 {
				t.Errorf("session cookie = %+v; want the token, HttpOnly, SameSite=Lax, Path=/, Secure=%v, Max-Age 30 days", s, tc.secure)
			}
			if c.HttpOnly || c.Value == "" || c.Value == s.Value || c.SameSite != http.SameSiteLaxMode || c.Secure != tc.secure {
				t.Errorf("csrf cookie = %+v; want readable by scripts, not the session token", c)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	f := newAccountsFixture(t)
	browser, token := f.signupLogin(t, "ann@example.com")
	prog := f.program(token) // the same session, as a bearer

	// Logout via cookie needs the CSRF header: another site cannot log us out.
	resp, body := browser.do(t, "POST", "/api/v1/auth/logout", nil, api.CSRFHeader, "")
	if code, _ := errorOf(t, body); resp.StatusCode != 403 || code != "csrf_failed" {
		t.Fatalf("logout without CSRF header = %d %s, want 403 csrf_failed", resp.StatusCode, code)
	}
	prog.must(t, 200, "GET", "/api/v1/me", nil)

	resp, _ = browser.do(t, "POST", "/api/v1/auth/logout", nil)
	if resp.StatusCode != 204 {
		t.Fatalf("logout = %d, want 204", resp.StatusCode)
	}
	checkCookiesCleared(t, resp, "logout")
	if browser.cookie(api.SessionCookie) != "" {
		t.Error("the browser still holds the session cookie")
	}
	// Revoked server-side: the token no longer works anywhere.
	resp, body = prog.do(t, "GET", "/api/v1/me", nil)
	if code, _ := errorOf(t, body); resp.StatusCode != 401 || code != "unauthenticated" {
		t.Errorf("GET /me with the logged-out token = %d %s, want 401 unauthenticated", resp.StatusCode, code)
	}
	// Idempotent: again, and anonymously, still 204.
	prog.must(t, 204, "POST", "/api/v1/auth/logout", nil)
	f.program("").must(t, 204, "POST", "/api/v1/auth/logout", nil)

	// A bearer logout revokes that session only.
	_, t1 := f.signupLogin(t, "bob@example.com")
	var out struct{ Token string }
	json.Unmarshal(f.program("").must(t, 200, "POST", "/api/v1/auth/login", map[string]string{"email": "bob@example.com", "password": "correct horse"}), &out)
	f.program(t1).must(t, 204, "POST", "/api/v1/auth/logout", nil)
	f.program(t1).must(t, 401, "GET", "/api/v1/me", nil)
	f.program(out.Token).must(t, 200, "GET", "/api/v1/me", nil)
}

func TestCSRF(t *testing.T) {
	f := newAccountsFixture(t)
	browser, token := f.signupLogin(t, "ann@example.com")
	good := browser.cookie(api.CSRFCookie)
	body := map[string]any{"name": "x", "symbols": []string{"AAPL"}}
	// Another session's CSRF token, and a forged cookie+header pair.
	other, _ := f.signupLogin(t, "bob@example.com")
	otherCSRF := other.cookie(api.CSRFCookie)

	tests := []struct {
		name   string
		c      *client
		header []string
		want   int
	}{
		{"cookie, matching header", browser, []string{api.CSRFHeader, good}, 201},
		{"cookie, no header", browser, []string{api.CSRFHeader, ""}, 403},
		{"cookie, wrong header", browser, []string{api.CSRFHeader, good[:len(good)-1] + "x"}, 403},
		{"cookie, another session's token", browser, []string{api.CSRFHeader, otherCSRF}, 403},
		{"cookie, header and csrf cookie forged alike", browser, []string{api.CSRFHeader, "forged", "Cookie", api.SessionCookie + "=" + token + "; " + api.CSRFCookie + "=forged"}, 403},
		{"bearer, no header", f.program(token), nil, 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := tc.c.do(t, "POST", "/api/v1/watchlists", body, tc.header...)
			if resp.StatusCode != tc.want {
				t.Fatalf("POST /api/v1/watchlists = %d %s, want %d", resp.StatusCode, b, tc.want)
			}
			if tc.want == 403 {
				if code, _ := errorOf(t, b); code != "csrf_failed" {
					t.Errorf("code = %q, want csrf_failed", code)
				}
			}
		})
	}
	// Safe methods need no header.
	browser.must(t, 200, "GET", "/api/v1/watchlists", nil, api.CSRFHeader, "")
}

// TestAccountsAuthorization: every session route refuses the anonymous
// (401) and API keys (403); every id route hides other users' ids (404)
// and leaves them untouched.
func TestAccountsAuthorization(t *testing.T) {
	f := newAccountsFixture(t)
	ann, _ := f.signupLogin(t, "ann@example.com")
	bob, _ := f.signupLogin(t, "bob@example.com")
	var key struct {
		ID     int64
		Secret string
	}
	json.Unmarshal(ann.must(t, 201, "POST", "/api/v1/apikeys", map[string]string{"name": "ci"}), &key)
	var wl struct{ ID int64 }
	json.Unmarshal(ann.must(t, 201, "POST", "/api/v1/watchlists", map[string]any{"name": "mine", "symbols": []string{"AAPL"}}), &wl)

	routes := []struct{ method, path string }{
		{"POST", "/api/v1/auth/ws-token"},
		{"GET", "/api/v1/me"},
		{"GET", "/api/v1/apikeys"},
		{"POST", "/api/v1/apikeys"},
		{"DELETE", fmt.Sprintf("/api/v1/apikeys/%d", key.ID)},
		{"GET", "/api/v1/watchlists"},
		{"POST", "/api/v1/watchlists"},
		{"GET", fmt.Sprintf("/api/v1/watchlists/%d", wl.ID)},
		{"PUT", fmt.Sprintf("/api/v1/watchlists/%d", wl.ID)},
		{"DELETE", fmt.Sprintf("/api/v1/watchlists/%d", wl.ID)},
	}
	for _, rt := range routes {
		t.Run("anonymous "+rt.method+" "+rt.path, func(t *testing.T) {
			for _, c := range []*client{f.program(""), f.program("fds_" + strings.Repeat("A", 43)), f.browser(t)} {
				resp, b := c.do(t, rt.method, rt.path, map[string]any{"name": "x"})
				if code, _ := errorOf(t, b); resp.StatusCode != 401 || code != "unauthenticated" {
					t.Errorf("= %d %s, want 401 unauthenticated", resp.StatusCode, code)
				}
			}
		})
		t.Run("api key "+rt.method+" "+rt.path, func(t *testing.T) {
			resp, b := f.program(key.Secret).do(t, rt.method, rt.path, map[string]any{"name": "x"})
			if code, _ := errorOf(t, b); resp.StatusCode != 403 || code != "forbidden" {
				t.Errorf("= %d %s, want 403 forbidden", resp.StatusCode, code)
			}
		})
	}
	idRoutes := []struct {
		method, path string
		body         any
	}{
		{"DELETE", fmt.Sprintf("/api/v1/apikeys/%d", key.ID), nil},
		{"GET", fmt.Sprintf("/api/v1/watchlists/%d", wl.ID), nil},
		{"PUT", fmt.Sprintf("/api/v1/watchlists/%d", wl.ID), map[string]any{"name": "bob's now"}},
		{"DELETE", fmt.Sprintf("/api/v1/watchlists/%d", wl.ID), nil},
	}
	for _, rt := range idRoutes {
		t.Run("other user "+rt.method+" "+rt.path, func(t *testing.T) {
			resp, b := bob.do(t, rt.method, rt.path, rt.body)
			if code, _ := errorOf(t, b); resp.StatusCode != 404 || code != "not_found" {
				t.Errorf("= %d %s, want 404 not_found", resp.StatusCode, code)
			}
		})
	}
	// Nothing of ann's changed, and bob's lists do not show it.
	if b := ann.must(t, 200, "GET", fmt.Sprintf("/api/v1/watchlists/%d", wl.ID), nil); !strings.Contains(string(b), `"name":"mine"`) {
		t.Errorf("ann's watchlist after bob's attempts = %s", b)
	}
	if b := ann.must(t, 200, "GET", "/api/v1/apikeys", nil); !strings.Contains(string(b), `"name":"ci"`) {
		t.Errorf("ann's keys after bob's attempts = %s", b)
	}
	for _, p := range []string{"/api/v1/watchlists", "/api/v1/apikeys"} {
		if b := bob.must(t, 200, "GET", p, nil); string(b) != "{\"data\":[]}\n" {
			t.Errorf("bob's GET %s = %s, want empty", p, b)
		}
	}
	// The key still works for ingest until its owner revokes it.
	f.program(key.Secret).must(t, 202, "POST", "/api/v1/ticks", fmt.Sprintf(`[{"symbol":"AAPL","ts":%d,"price":1}]`, t0))
	ann.must(t, 204, "DELETE", fmt.Sprintf("/api/v1/apikeys/%d", key.ID), nil)
	f.program(key.Secret).must(t, 401, "POST", "/api/v1/ticks", fmt.Sprintf(`[{"symbol":"AAPL","ts":%d,"price":1}]`, t0))
	for _, p := range []string{"/api/v1/watchlists/abc", "/api/v1/watchlists/0", "/api/v1/watchlists/99999999999999999999"} {
		ann.must(t, 404, "GET", p, nil)
	}
}

func TestAuthRateLimits(t *testing.T) {
	f := newAccountsFixture(t)
	anon := f.program("")
	anon.must(t, 201, "POST", "/api/v1/auth/signup", map[string]string{"email": "ann@example.com", "password": "0123456789"})
	// Per account: 5 a minute (the signup was the first), whatever the case
	// or spacing of the address.
	emails := []string{"ANN@example.com", " ann@example.com", "Ann@Example.Com", "ann@example.com"}
	for i, e := range emails {
		anon.must(t, 401, "POST", "/api/v1/auth/login", map[string]string{"email": e, "password": fmt.Sprint("wrong-password-", i)})
	}
	resp, b := anon.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": "ann@example.com", "password": "0123456789"})
	if code, _ := errorOf(t, b); resp.StatusCode != 429 || code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("6th login of one account = %d %s (Retry-After %q), want 429 rate_limited with Retry-After", resp.StatusCode, code, resp.Header.Get("Retry-After"))
	}
	// Per IP: 20 a minute across addresses (1 signup + 5 logins so far).
	n := 6
	for ; n < 20; n++ {
		anon.must(t, 401, "POST", "/api/v1/auth/login", map[string]string{"email": fmt.Sprintf("u%d@example.com", n), "password": "0123456789"})
	}
	resp, _ = anon.do(t, "POST", "/api/v1/auth/signup", map[string]string{"email": "new@example.com", "password": "0123456789"})
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("21st auth request from one IP = %d, want 429 with Retry-After", resp.StatusCode)
	}
}

func TestWSTokenRoute(t *testing.T) {
	var svc *auth.Service
	f := newAccountsFixture(t, func(_ *api.Config, d *api.Deps) { svc = d.Accounts })
	browser, session := f.signupLogin(t, "ann@example.com")
	var out struct {
		Token     string
		ExpiresIn int `json:"expires_in"`
	}
	json.Unmarshal(browser.must(t, 200, "POST", "/api/v1/auth/ws-token", nil), &out)
	if out.ExpiresIn != 60 {
		t.Errorf("expires_in = %d, want 60", out.ExpiresIn)
	}
	uid, err := svc.AuthenticateToken(t.Context(), out.Token)
	if err != nil || uid != 1 {
		t.Errorf("AuthenticateToken(ws token) = %d, %v; want user 1", uid, err)
	}
	// The WS token names the session it was made with, and when that
	// expires, so that the gateway closes its connections when it ends
	// (decision 0083).
	_, wantSess, wantExp, err := svc.AuthenticateSession(t.Context(), session)
	if err != nil || wantSess == "" || wantExp.IsZero() {
		t.Fatalf("AuthenticateSession(session) = %q, %v, %v; want a session and its expiry", wantSess, wantExp, err)
	}
	if _, sess, exp, err := svc.AuthenticateSession(t.Context(), out.Token); err != nil || sess != wantSess || !exp.Equal(wantExp) {
		t.Errorf("AuthenticateSession(ws token) = %x, %v, %v; want the session it was made with, %x, %v", sess, exp, err, wantSess, wantExp)
	}
	// Not a REST credential.
	f.program(out.Token).must(t, 401, "GET", "/api/v1/me", nil)
}

func TestWatchlistLimits(t *testing.T) {
	f := newAccountsFixture(t, func(c *api.Config, _ *api.Deps) { c.UserLimit = api.Limit{Rate: -1} })
	ann, _ := f.signupLogin(t, "ann@example.com")
	syms := make([]string, watchlist.MaxSymbols+1)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%03d", i)
	}
	ann.must(t, 400, "POST", "/api/v1/watchlists", map[string]any{"name": "big", "symbols": syms})
	ann.must(t, 201, "POST", "/api/v1/watchlists", map[string]any{"name": "full", "symbols": syms[:watchlist.MaxSymbols]})
	ann.must(t, 400, "POST", "/api/v1/watchlists", map[string]any{"name": strings.Repeat("n", 65)})
	ann.must(t, 413, "POST", "/api/v1/watchlists", `{"name":"`+strings.Repeat("n", 70_000)+`"}`)
	for i := 1; i < watchlist.MaxLists; i++ {
		ann.must(t, 201, "POST", "/api/v1/watchlists", map[string]any{"name": fmt.Sprint("l", i)})
	}
	resp, b := ann.do(t, "POST", "/api/v1/watchlists", map[string]any{"name": "one too many"})
	if code, _ := errorOf(t, b); resp.StatusCode != 409 || code != "too_many_watchlists" {
		t.Errorf("list #%d = %d %s, want 409 too_many_watchlists", watchlist.MaxLists+1, resp.StatusCode, code)
	}
}

// TestAccountsUnconfigured: without the services the routes answer 503.
func TestAccountsUnconfigured(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/api/v1/auth/signup", "/api/v1/auth/login"} {
		if resp, _ := f.do(t, "POST", p, strings.NewReader(`{"email":"a@b.co","password":"0123456789"}`)); resp.StatusCode != 503 {
			t.Errorf("POST %s without Accounts = %d, want 503", p, resp.StatusCode)
		}
	}
	if resp, _ := f.do(t, "GET", "/api/v1/watchlists", nil, "Authorization", "Bearer "+sessionToken); resp.StatusCode != 503 {
		t.Errorf("GET /api/v1/watchlists without Watchlists = %d, want 503", resp.StatusCode)
	}
}

// The auth service is what the gateway authenticates WebSocket clients with.
var _ gateway.SessionAuthenticator = (*auth.Service)(nil)

// TestCountTokenFailuresNamesSessions: the authenticator cmd/findash gives
// the gateway (CountTokenFailures over the auth service) still names each
// credential's session, so the gateway closes connections when their
// session ends (decision 0083). Before, the wrapper hid AuthenticateSession
// and LiveSessions, and no connection was ever checked.
func TestCountTokenFailuresNamesSessions(t *testing.T) {
	if _, ok := api.CountTokenFailures((*auth.Service)(nil)).(gateway.SessionAuthenticator); !ok {
		t.Error("CountTokenFailures(*auth.Service) is not a gateway.SessionAuthenticator")
	}
}

// checkCookiesCleared fails t unless resp clears both the session and the
// CSRF cookie.
func checkCookiesCleared(t *testing.T, resp *http.Response, what string) {
	t.Helper()
	cleared := 0
	for _, c := range resp.Cookies() {
		if (c.Name == api.SessionCookie || c.Name == api.CSRFCookie) && c.MaxAge < 0 {
			cleared++
		}
	}
	if cleared != 2 {
		t.Errorf("%s Set-Cookie = %q, want both cookies cleared", what, resp.Header.Values("Set-Cookie"))
	}
}
