package hostile_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/findash/findash/internal/testenv"
)

// post sends body to the public listener with the given headers (pairs)
// and returns the status, the response headers and the body.
func (s *server) post(path, body string, header ...string) (int, http.Header, string) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, string(b)
}

// login signs email up and logs in, and returns the session token.
func (s *server) login(email, password string) string {
	s.t.Helper()
	creds := fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
	if code, _, body := s.post("/api/v1/auth/signup", creds, "Content-Type", "application/json"); code != 201 {
		s.t.Fatalf("signup %s = %d %s", email, code, body)
	}
	code, _, body := s.post("/api/v1/auth/login", creds, "Content-Type", "application/json")
	var out struct{ Token string }
	if code != 200 || json.Unmarshal([]byte(body), &out) != nil || out.Token == "" {
		s.t.Fatalf("login %s = %d %s", email, code, body)
	}
	return out.Token
}

// TestLoginFormsRefused: a cross-site HTML form (or a no-cors fetch, which
// sends no Content-Type) cannot sign up or log a browser in: 415 (item 13).
func TestLoginFormsRefused(t *testing.T) {
	s := startServer(t, options{})
	form := url.Values{"email": {"eve@example.com"}, "password": {"0123456789"}}.Encode()
	json := `{"email":"eve@example.com","password":"0123456789"}`
	for _, path := range []string{"/api/v1/auth/signup", "/api/v1/auth/login"} {
		for _, c := range []struct{ body, ct string }{
			{form, "application/x-www-form-urlencoded"},
			{json, "text/plain"},
			{json, ""},
		} {
			code, _, body := s.post(path, c.body, "Content-Type", c.ct)
			if code != 415 || !strings.Contains(body, `"unsupported_media_type"`) {
				t.Errorf("POST %s as %q = %d %s, want 415 unsupported_media_type", path, c.ct, code, body)
			}
		}
	}
	if code, _, body := s.post("/api/v1/auth/signup", json, "Content-Type", "application/json"); code != 201 {
		t.Errorf("JSON signup = %d %s, want 201", code, body)
	}
}

// TestLoginNoLockout: an attacker failing a victim's logins from one
// address is throttled there, and the victim still logs in from another
// (item 13). Behind a trusted proxy, the address is X-Forwarded-For's.
func TestLoginNoLockout(t *testing.T) {
	s := startServer(t, options{env: []string{"FINDASH_TRUST_PROXY=true"}})
	s.login("ann@example.com", "correct horse battery")
	attempt := func(ip, password string) int {
		code, _, _ := s.post("/api/v1/auth/login", fmt.Sprintf(`{"email":"ann@example.com","password":%q}`, password),
			"Content-Type", "application/json", "X-Forwarded-For", ip)
		return code
	}
	codes := map[int]int{}
	for i := range 30 {
		codes[attempt("203.0.113.66", fmt.Sprint("guess-", i))]++
	}
	if codes[429] == 0 || codes[200] != 0 {
		t.Fatalf("30 wrong logins from one IP: %v, want some 429", codes)
	}
	if code := attempt("198.51.100.7", "correct horse battery"); code != 200 {
		t.Fatalf("the owner's login from another IP after the attack = %d, want 200", code)
	}
	if v := s.Metric("findash_http_rate_limited_total", `class="auth_ip_email"`); v == 0 {
		t.Errorf(`findash_http_rate_limited_total{class="auth_ip_email"} = 0, want > 0`)
	}
}

// TestWebSocketAlertsNeedSession: an API key does not open a WebSocket
// (whose alerts channel carries its owner's alerts); a WS token from a
// session does, and subscribes to alerts (item 13).
func TestWebSocketAlertsNeedSession(t *testing.T) {
	s := startServer(t, options{user: "keys@example.com"})
	wsURL := "ws" + strings.TrimPrefix(s.URL, "http") + "/ws?token="
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}

	_, resp, err := d.Dial(wsURL+url.QueryEscape(s.APIKey), nil)
	if err == nil || resp == nil || resp.StatusCode != 401 {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("GET /ws?token=<api key> = %d, %v; want 401 before the upgrade", status, err)
	}

	session := s.login("ann@example.com", "correct horse battery")
	code, _, body := s.post("/api/v1/auth/ws-token", "", "Authorization", "Bearer "+session)
	var tok struct{ Token string }
	if code != 200 || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("POST /api/v1/auth/ws-token = %d %s", code, body)
	}
	for name, cred := range map[string]string{"ws token": tok.Token, "session token": session} {
		c, _, err := d.Dial(wsURL+url.QueryEscape(cred), nil)
		if err != nil {
			t.Fatalf("GET /ws?token=<%s>: %v", name, err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","id":1,"channels":["alerts"]}`)); err != nil {
			t.Fatal(err)
		}
		_, msg, err := c.ReadMessage()
		if err != nil || !strings.Contains(string(msg), `"type":"ack"`) {
			t.Errorf("%s: subscribe alerts = %s, %v; want ack", name, msg, err)
		}
		c.Close()
	}
}

// TestKeyRevocationAcrossInstances: two instances share the database and
// NATS, and cache API keys for an hour; a key deleted through one stops
// working on the other at once, carried by the bus (item 5).
func TestKeyRevocationAcrossInstances(t *testing.T) {
	db := testenv.Postgres(t)
	env := []string{
		"FINDASH_DATABASE_URL=" + db.URL,
		"FINDASH_NATS_URL=nats://" + privateNATS(t),
		"FINDASH_APIKEY_CACHE_TTL=1h",
	}
	a := startServer(t, options{env: env})
	b := startServer(t, options{env: env})
	session := a.login("owner@example.com", "correct horse battery")
	code, _, body := a.post("/api/v1/apikeys", `{"name":"ingest"}`, "Authorization", "Bearer "+session, "Content-Type", "application/json")
	var key struct {
		ID     int64
		Secret string
	}
	if code != 201 || json.Unmarshal([]byte(body), &key) != nil {
		t.Fatalf("POST /api/v1/apikeys = %d %s", code, body)
	}
	tick := func(s *server) int {
		s.APIKey = key.Secret
		code, _ := s.PostTicks(fmt.Sprintf(`{"symbol":"REV-USD","price":1,"size":1,"ts":%d}`+"\n", time.Now().UnixMilli()))
		return code
	}
	for _, s := range []*server{a, b} { // both cache the key
		if code := tick(s); code != 202 {
			t.Fatalf("POST ticks with the new key = %d", code)
		}
	}
	req, _ := http.NewRequest("DELETE", fmt.Sprintf("%s/api/v1/apikeys/%d", a.URL, key.ID), nil)
	req.Header.Set("Authorization", "Bearer "+session)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("DELETE the key = %v, %v", resp, err)
	}
	resp.Body.Close()
	deleted := time.Now()
	if code := tick(a); code != 401 {
		t.Errorf("POST ticks on the instance that deleted the key = %d, want 401", code)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return tick(b) == 401 },
		"the other instance still accepts the deleted key (cache TTL 1 h: only the bus can drop it)")
	t.Logf("the other instance refused the deleted key %v after the delete", time.Since(deleted).Round(time.Millisecond))
	if v := b.Metric("findash_auth_apikey_revocations_total"); v != 1 {
		t.Errorf("findash_auth_apikey_revocations_total on the other instance = %v, want 1", v)
	}
}
