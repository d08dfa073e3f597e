package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/auth"
	"github.com/prometheus/client_golang/prometheus"
)

// TestJSONOnly: a body route takes JSON only. A cross-site form (or a
// no-cors fetch of a Blob, which sends no Content-Type) could otherwise log
// a victim's browser into the attacker's account (login CSRF): 415 before
// the body is read or a limit is spent (issue 13 item 13).
func TestJSONOnly(t *testing.T) {
	f := newAccountsFixture(t)
	anon := f.program("")
	body := `{"email":"ann@example.com","password":"0123456789"}`
	for _, path := range []string{"/api/v1/auth/signup", "/api/v1/auth/login"} {
		for _, ct := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", "text/plain; charset=utf-8", "", "application/jsonx", "application/json-seq"} {
			t.Run(path+" "+ct, func(t *testing.T) {
				resp, b := anon.do(t, "POST", path, body, "Content-Type", ct)
				if code, _ := errorOf(t, b); resp.StatusCode != 415 || code != "unsupported_media_type" {
					t.Errorf("POST %s with Content-Type %q = %d %s, want 415 unsupported_media_type", path, ct, resp.StatusCode, code)
				}
				if got := resp.Header.Get("Accept-Post"); got != "application/json" {
					t.Errorf("Accept-Post = %q, want application/json", got)
				}
			})
		}
	}
	anon.must(t, 201, "POST", "/api/v1/auth/signup", body, "Content-Type", "application/json; charset=utf-8")
	anon.must(t, 200, "POST", "/api/v1/auth/login", body, "Content-Type", "Application/JSON")
	// The refused attempts above spent no login attempt: 20 a minute per IP.
	if v := f.metric(t, "findash_http_rate_limited_total"); v != 0 {
		t.Errorf("findash_http_rate_limited_total = %v after the 415s, want 0", v)
	}
}

// TestLoginLockout: failed logins from one address must not lock the
// account for its owner elsewhere. Logins are limited per IP and per IP +
// e-mail, not per e-mail alone (issue 13 item 13).
func TestLoginLockout(t *testing.T) {
	f := newAccountsFixture(t, func(c *api.Config, _ *api.Deps) { c.TrustProxy = true })
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	anon := f.program("")
	anon.must(t, 201, "POST", "/api/v1/auth/signup", map[string]string{"email": "ann@example.com", "password": "0123456789"}, from("192.0.2.9")...)

	attacker := from("203.0.113.7")
	for i := range 5 {
		anon.must(t, 401, "POST", "/api/v1/auth/login", map[string]string{"email": "ANN@example.com", "password": fmt.Sprint("wrong-", i)}, attacker...)
	}
	resp, b := anon.do(t, "POST", "/api/v1/auth/login", map[string]string{"email": "ann@example.com", "password": "wrong"}, attacker...)
	if code, _ := errorOf(t, b); resp.StatusCode != 429 || code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("6th login for one e-mail from one IP = %d %s, want 429 rate_limited with Retry-After", resp.StatusCode, code)
	}
	// The owner, from another address, still gets in.
	anon.must(t, 200, "POST", "/api/v1/auth/login", map[string]string{"email": "ann@example.com", "password": "0123456789"}, from("198.51.100.4")...)
	// The attacker can still try other accounts, within the per-IP limit.
	anon.must(t, 401, "POST", "/api/v1/auth/login", map[string]string{"email": "bob@example.com", "password": "0123456789"}, attacker...)
}

// metric sums the counter and gauge samples of name on the fixture's
// registry whose labels include every "label=value" of match.
func (f *fixture) metric(t *testing.T, name string, match ...string) float64 {
	t.Helper()
	return gathered(t, f.reg, name, match...)
}

// gathered sums the counter and gauge samples of name on g whose labels
// include every "label=value" of match.
func gathered(t *testing.T, g prometheus.Gatherer, name string, match ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	samples:
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			for _, want := range match {
				if !strings.Contains(strings.Join(labels, ","), want) {
					continue samples
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestLimitsPerIPv6Prefix: the per-IP limits count an IPv6 client by its
// /64, as the connection caps do (internal/connlimit). One host is
// usually given a whole /64 (SLAAC, privacy addresses), so counting each
// address alone gave it 2^64 budgets: a login brute force of one account
// never met the per IP and e-mail limit. An IPv4-mapped address is its
// IPv4 address, and the same address spelt another way is the same client.
func TestLimitsPerIPv6Prefix(t *testing.T) {
	f := newAccountsFixture(t, func(c *api.Config, _ *api.Deps) { c.TrustProxy = true })
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	anon := f.program("")
	anon.must(t, 201, "POST", "/api/v1/auth/signup", map[string]string{"email": "ann@example.com", "password": "0123456789"}, from("192.0.2.9")...)

	login := map[string]string{"email": "ann@example.com", "password": "wrong-password"}
	for i := range 5 { // five addresses of one /64
		anon.must(t, 401, "POST", "/api/v1/auth/login", login, from(fmt.Sprintf("2001:db8:1:2::%x", i+1))...)
	}
	resp, b := anon.do(t, "POST", "/api/v1/auth/login", login, from("2001:DB8:1:2:ffff:0:0:1")...)
	if code, _ := errorOf(t, b); resp.StatusCode != 429 || code != "rate_limited" {
		t.Fatalf("6th login for one e-mail from one IPv6 /64 = %d %s, want 429 rate_limited", resp.StatusCode, code)
	}
	// The next /64 is another client.
	anon.must(t, 401, "POST", "/api/v1/auth/login", login, from("2001:db8:1:3::1")...)

	for range 5 {
		anon.must(t, 401, "POST", "/api/v1/auth/login", login, from("203.0.113.7")...)
	}
	resp, b = anon.do(t, "POST", "/api/v1/auth/login", login, from("::ffff:203.0.113.7")...)
	if code, _ := errorOf(t, b); resp.StatusCode != 429 || code != "rate_limited" {
		t.Fatalf("6th login for one e-mail from 203.0.113.7, the last as ::ffff:203.0.113.7 = %d %s, want 429 rate_limited", resp.StatusCode, code)
	}
}

// TestAPIKeysPerUserCap: a user may hold at most auth.MaxAPIKeys keys, as
// they may hold at most so many watchlists, alerts and holdings. Without
// the cap one session could add a key per request (20/s) without end:
// rows, key cache entries, and a GET /api/v1/apikeys answer (never
// paginated) growing with them.
func TestAPIKeysPerUserCap(t *testing.T) {
	f := newAccountsFixture(t, func(c *api.Config, _ *api.Deps) { c.UserLimit = api.Limit{Rate: -1} })
	ann, _ := f.signupLogin(t, "ann@example.com")
	bob, _ := f.signupLogin(t, "bob@example.com")
	var last struct {
		ID int64 `json:"id"`
	}
	for i := range auth.MaxAPIKeys {
		if err := json.Unmarshal(ann.must(t, 201, "POST", "/api/v1/apikeys", map[string]any{"name": fmt.Sprint("key ", i)}), &last); err != nil {
			t.Fatal(err)
		}
	}
	resp, b := ann.do(t, "POST", "/api/v1/apikeys", map[string]any{"name": "one too many"})
	if code, _ := errorOf(t, b); resp.StatusCode != 409 || code != "too_many_api_keys" {
		t.Fatalf("API key #%d = %d %s, want 409 too_many_api_keys", auth.MaxAPIKeys+1, resp.StatusCode, code)
	}
	var keys struct{ Data []json.RawMessage }
	if err := json.Unmarshal(ann.must(t, 200, "GET", "/api/v1/apikeys", nil), &keys); err != nil || len(keys.Data) != auth.MaxAPIKeys {
		t.Fatalf("GET /api/v1/apikeys = %d keys (%v), want %d: nothing stored past the cap", len(keys.Data), err, auth.MaxAPIKeys)
	}
	bob.must(t, 201, "POST", "/api/v1/apikeys", map[string]any{"name": "bob's"}) // per user
	ann.must(t, 204, "DELETE", fmt.Sprintf("/api/v1/apikeys/%d", last.ID), nil)
	ann.must(t, 201, "POST", "/api/v1/apikeys", map[string]any{"name": "in its place"})
}
