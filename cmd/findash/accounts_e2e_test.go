package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/findash/findash/internal/notify/notifytest"
	"github.com/findash/findash/internal/testenv"
)

// TestAccountsEndToEnd drives the account side of findash (issue 6)
// through the real server: sign-up, log-in, watchlists, an alert that
// fires once to e-mail, webhook and WebSocket, reports checked against
// the candles API, and another user who can see or delete none of it. It
// runs on SQLite, and on PostgreSQL when FINDASH_TEST_POSTGRES_URL is set.
func TestAccountsEndToEnd(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { accountsE2E(t) })
	t.Run("postgres", func(t *testing.T) { accountsE2E(t, "--database-url", testenv.Postgres(t).URL) })
	// Reports in an S3-compatible bucket (gofakes3, in-process), still
	// downloaded through findash's signed URLs.
	t.Run("sqlite+s3", func(t *testing.T) {
		mem := s3mem.New()
		s3 := httptest.NewServer(gofakes3.New(mem).Server())
		t.Cleanup(s3.Close)
		secret := filepath.Join(t.TempDir(), "s3-secret")
		if err := os.WriteFile(secret, []byte("findash-secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		accountsE2E(t, "--s3-endpoint", s3.URL, "--s3-bucket", "findash-reports", "--s3-access-key", "findash",
			"--s3-secret-key-file", secret, "--s3-region", "us-east-1")
		objs, err := mem.ListBucket("findash-reports", nil, gofakes3.ListBucketPage{})
		if err != nil {
			t.Fatalf("list the bucket: %v", err)
		}
		var keys []string
		for _, c := range objs.Contents {
			keys = append(keys, c.Key)
		}
		if diff := cmp.Diff([]string{"reports/1/1.csv", "reports/1/2.pdf"}, keys); diff != "" {
			t.Fatalf("bucket keys (-want +got):\n%s", diff)
		}
	})
}

// acctClient is a user's HTTP client: with a cookie jar (the browser) and,
// once logged in, a bearer session token (programs).
type acctClient struct {
	t     *testing.T
	in    *instance
	hc    *http.Client
	token string // bearer session token; "" = none
}

func newAcctClient(t *testing.T, in *instance) *acctClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &acctClient{t: t, in: in, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// auth says how a request authenticates.
type authMode int

const (
	viaBearer authMode = iota // Authorization: Bearer <session token>
	viaCookie                 // the session cookie (+ the CSRF header on writes)
	viaNone                   // nothing at all (a client without the jar)
)

// do sends method path with body (a JSON value, or nil) and returns the
// status and response body.
func (c *acctClient) do(mode authMode, method, path string, body any) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.in.url(path), r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.hc
	switch mode {
	case viaBearer:
		hc = http.DefaultClient
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
	case viaCookie:
		for _, ck := range c.hc.Jar.Cookies(req.URL) {
			if ck.Name == "findash_csrf" {
				req.Header.Set("X-CSRF-Token", ck.Value)
			}
		}
	case viaNone:
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// must sends the request and fails unless the status is want; the body is
// decoded into out when out is not nil.
func (c *acctClient) must(want int, mode authMode, method, path string, body, out any) {
	c.t.Helper()
	code, b := c.do(mode, method, path, body)
	if code != want {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// acctReport is a report as GET /api/v1/reports/{id} shows it.
type acctReport struct {
	ID          int64  `json:"id"`
	Status      string `json:"status"`
	Format      string `json:"format"`
	Error       string `json:"error"`
	Size        int64  `json:"size"`
	DownloadURL string `json:"download_url"`
}

// waitReport polls report id until it is done (or failed: a test failure).
func (c *acctClient) waitReport(id int64) acctReport {
	c.t.Helper()
	var r acctReport
	// Every 100 ms: the account routes allow a user 20 requests/s (burst
	// 50), and WaitFor's 20 ms polls ran past it while a loaded CI machine
	// took seconds over a report (a 429 failed the test once).
	if !testenv.Poll(30*time.Second, 100*time.Millisecond, func() bool {
		r = acctReport{}
		c.must(200, viaBearer, "GET", fmt.Sprintf("/api/v1/reports/%d", id), nil, &r)
		if r.Status == "failed" {
			c.t.Fatalf("report %d failed: %q", id, r.Error)
		}
		return r.Status == "done"
	}) {
		c.t.Fatalf("report %d is still %s after 30s", id, r.Status)
	}
	if r.DownloadURL == "" {
		c.t.Fatalf("report %d is done without a download_url: %+v", id, r)
	}
	return r
}

// reloadedAlerts reports whether the JSON logs show the alert evaluator
// reloading the alert definitions with n alerts.
func reloadedAlerts(logs string, n int) bool {
	for _, line := range strings.Split(logs, "\n") {
		var l struct {
			Msg    string `json:"msg"`
			Alerts int    `json:"alerts"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "alert definitions reloaded" && l.Alerts == n {
			return true
		}
	}
	return false
}

// download GETs a report's signed URL without any credentials.
func download(t *testing.T, in *instance, path string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(in.url(path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func accountsE2E(t *testing.T, args ...string) {
	mail := notifytest.NewSMTPServer(t)
	hook := notifytest.NewReceiver(t)
	dir := filepath.Join(t.TempDir(), "data")
	smtpFile := filepath.Join(t.TempDir(), "smtp-url")
	if err := os.WriteFile(smtpFile, []byte(mail.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	in := start(t, testConfig(t, dir, append([]string{"--smtp-url-file", smtpFile, "--webhook-allow-private"}, args...)...))

	const (
		aliceEmail = "alice@example.com"
		bobEmail   = "bob@example.com"
		password   = "correct horse battery"
		sym        = "ACCT-E2E"
	)

	// Sign up two users; log in both ways.
	alice, bob, anon := newAcctClient(t, in), newAcctClient(t, in), newAcctClient(t, in)
	for _, email := range []string{aliceEmail, bobEmail} {
		alice.must(201, viaNone, "POST", "/api/v1/auth/signup", map[string]string{"email": email, "password": password}, nil)
	}
	alice.must(409, viaNone, "POST", "/api/v1/auth/signup", map[string]string{"email": aliceEmail, "password": password}, nil)
	// Each got a verification link (decision 0030); alice opens hers, so
	// her alert e-mails are sent (bob stays unverified).
	verify := mail.Wait(2, 20*time.Second)
	if len(verify) != 2 {
		t.Fatalf("SMTP server received %d mails, want the 2 verification links", len(verify))
	}
	for _, m := range verify {
		if m.To[0] != aliceEmail {
			continue
		}
		tok := regexp.MustCompile(`/verify#token=(fdt_[A-Za-z0-9_-]{43})`).FindStringSubmatch(m.Data)
		if tok == nil {
			t.Fatalf("verification mail without a link: %s", m.Data)
		}
		var u struct {
			Verified bool `json:"email_verified"`
		}
		anon.must(200, viaNone, "POST", "/api/v1/auth/verify", map[string]string{"token": tok[1]}, &u)
		if !u.Verified {
			t.Fatal("POST /auth/verify did not verify alice")
		}
	}
	alice.must(401, viaNone, "POST", "/api/v1/auth/login", map[string]string{"email": aliceEmail, "password": "wrong password!"}, nil)
	for _, c := range []struct {
		cl    *acctClient
		email string
	}{{alice, aliceEmail}, {bob, bobEmail}} {
		var login struct {
			Token string `json:"token"`
		}
		// Through the jar: the response sets the session and CSRF cookies.
		c.cl.must(200, viaCookie, "POST", "/api/v1/auth/login", map[string]string{"email": c.email, "password": password}, &login)
		if login.Token == "" {
			t.Fatalf("login of %s returned no token", c.email)
		}
		c.cl.token = login.Token
		for _, mode := range []authMode{viaCookie, viaBearer} {
			var me struct {
				Email string `json:"email"`
			}
			c.cl.must(200, mode, "GET", "/api/v1/me", nil, &me)
			if me.Email != c.email {
				t.Fatalf("GET /me (mode %d) = %q, want %q", mode, me.Email, c.email)
			}
		}
	}

	// A watchlist through the cookie: without the CSRF header it is refused.
	wl := map[string]any{"name": "crypto", "symbols": []string{sym, "BTC-USD"}}
	req, _ := http.NewRequest("POST", in.url("/api/v1/watchlists"), strings.NewReader(`{"name":"x","symbols":["BTC-USD"]}`))
	if resp, err := alice.hc.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != 403 {
		t.Fatalf("cookie POST /watchlists without X-CSRF-Token = %d, want 403", resp.StatusCode)
	}
	var list struct {
		ID      int64    `json:"id"`
		Symbols []string `json:"symbols"`
	}
	alice.must(201, viaCookie, "POST", "/api/v1/watchlists", wl, &list)
	alice.must(200, viaBearer, "PUT", fmt.Sprintf("/api/v1/watchlists/%d", list.ID), map[string]any{"name": "crypto", "symbols": []string{sym}}, &list)
	if diff := cmp.Diff([]string{sym}, list.Symbols); diff != "" {
		t.Fatalf("watchlist after PUT (-want +got):\n%s", diff)
	}

	// An API key for ingest, created through the API.
	var key struct {
		ID     int64  `json:"id"`
		Secret string `json:"secret"`
	}
	alice.must(201, viaBearer, "POST", "/api/v1/apikeys", map[string]string{"name": "feeder"}, &key)
	if key.Secret == "" {
		t.Fatal("POST /apikeys returned no secret")
	}
	var keys struct {
		Data []struct {
			Secret string `json:"secret"`
		} `json:"data"`
	}
	alice.must(200, viaBearer, "GET", "/api/v1/apikeys", nil, &keys)
	if len(keys.Data) != 1 || keys.Data[0].Secret != "" {
		t.Fatalf("GET /apikeys = %+v, want one key without its secret", keys.Data)
	}
	// An API key is for ingest, not for the account routes.
	(&acctClient{t: t, in: in, token: key.Secret}).must(403, viaBearer, "GET", "/api/v1/me", nil, nil)

	var secret struct {
		Secret string `json:"secret"`
	}
	alice.must(200, viaBearer, "GET", "/api/v1/webhook-secret", nil, &secret)

	// Some ticks below the threshold first, so the symbol has a price.
	now := time.Now().UnixMilli()
	tick := func(i int, price float64) string {
		return fmt.Sprintf(`{"symbol":%q,"ts":%d,"price":%g,"size":1}`+"\n", sym, now-60_000+int64(i)*10, price)
	}
	ticks := 0
	ingest := func(prices ...float64) {
		t.Helper()
		var sb strings.Builder
		for _, p := range prices {
			sb.WriteString(tick(ticks, p))
			ticks++
		}
		if code, body := postTicks(t, in, key.Secret, sb.String()); code != 202 {
			t.Fatalf("POST ticks = %d %s, want 202", code, body)
		}
	}
	ingest(100, 101, 102)

	var al struct {
		ID    int64 `json:"id"`
		Armed bool  `json:"armed"`
	}
	alice.must(201, viaBearer, "POST", "/api/v1/alerts", map[string]any{"symbol": sym, "condition": "above", "threshold": 150,
		"notify": []string{"email", "webhook"}, "webhook_url": hook.URL}, &al)
	// A second alert, far above: its firing later shows that the evaluator
	// went past the ticks before it (see "Exactly once").
	var probe struct {
		ID int64 `json:"id"`
	}
	alice.must(201, viaBearer, "POST", "/api/v1/alerts", map[string]any{"symbol": sym, "condition": "above", "threshold": 300,
		"notify": []string{"email", "webhook"}, "webhook_url": hook.URL}, &probe)

	// The alerts channel needs a user: anonymous subscribers are refused;
	// a ws-token authenticates.
	dialAlerts := func(query string) *wsClient {
		t.Helper()
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
		c, resp, err := d.Dial("ws://"+in.addrs.HTTP+"/ws"+query, http.Header{"Origin": {"http://" + in.addrs.HTTP}})
		if err != nil {
			t.Fatalf("dial /ws%s: %v (%v)", query, err, resp)
		}
		t.Cleanup(func() { c.Close() })
		w := &wsClient{t: t, c: c, msgs: make(chan msg, 4096), err: make(chan error, 1)}
		w.readLoop()
		w.send(map[string]any{"op": "subscribe", "id": 1, "channels": []string{"alerts"}})
		return w
	}
	if m := dialAlerts("").next(func(m msg) bool { return m.Type == "ack" || m.Type == "error" }); m.Type != "error" {
		t.Fatalf("anonymous subscribe to alerts = %+v, want an error", m)
	}
	var wsTok struct {
		Token string `json:"token"`
	}
	alice.must(200, viaBearer, "POST", "/api/v1/auth/ws-token", nil, &wsTok)
	ws := dialAlerts("?token=" + url.QueryEscape(wsTok.Token))
	if m := ws.next(func(m msg) bool { return m.Type == "ack" || m.Type == "error" }); m.Type != "ack" {
		t.Fatalf("subscribe to alerts with a ws-token = %+v, want ack", m)
	}
	bob.must(200, viaBearer, "POST", "/api/v1/auth/ws-token", nil, &wsTok)
	bobWS := dialAlerts("?token=" + url.QueryEscape(wsTok.Token))
	bobWS.next(ofType("ack"))

	// The evaluator re-reads alert definitions when they changed, checked at
	// most once a second while messages flow: keep prices below the
	// threshold flowing until it logs that it has both alerts, then cross
	// once and stay above.
	testenv.Eventually(t, 20*time.Second, func() bool {
		ingest(110)
		return reloadedAlerts(in.logs.String(), 2)
	}, "the alert evaluator logged no reload with the two new alerts")
	ingest(149, 160, 170, 180)
	ingest(175, 190)

	m := ws.next(func(m msg) bool { return m.Channel == "alerts" })
	var wsEvent struct {
		AlertID int64   `json:"alert_id"`
		Symbol  string  `json:"symbol"`
		Price   float64 `json:"price"`
	}
	if err := json.Unmarshal(m.Data, &wsEvent); err != nil || m.Type != "alert" || wsEvent.AlertID != al.ID || wsEvent.Symbol != sym || wsEvent.Price != 160 {
		t.Fatalf("WebSocket alert = %+v (%s), want alert %d on %s at 160", m, m.Data, al.ID, sym)
	}
	mails := mail.Wait(3, 20*time.Second)
	if len(mails) != 3 || len(mails[2].To) != 1 || mails[2].To[0] != aliceEmail || !strings.Contains(mails[2].Data, sym) ||
		!strings.Contains(mails[2].Data, "/s/"+sym) {
		t.Fatalf("SMTP server received %+v, want one alert mail to %s about %s, linking to its page", mails, aliceEmail, sym)
	}
	hooks := hook.Wait(1, 20*time.Second)
	if len(hooks) != 1 {
		t.Fatalf("webhook receiver got %d requests, want 1", len(hooks))
	}
	mac := hmac.New(sha256.New, []byte(secret.Secret))
	mac.Write(hooks[0].Body)
	if got, want := hooks[0].Header.Get("X-Findash-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Fatalf("X-Findash-Signature = %q, want %q (HMAC of the body with the user's secret)", got, want)
	}
	var payload struct {
		Type  string `json:"type"`
		Event struct {
			AlertID int64  `json:"alert_id"`
			Symbol  string `json:"symbol"`
		} `json:"event"`
	}
	if err := json.Unmarshal(hooks[0].Body, &payload); err != nil || payload.Event.AlertID != al.ID || payload.Event.Symbol != sym {
		t.Fatalf("webhook body = %s, want the event of alert %d", hooks[0].Body, al.ID)
	}

	// Exactly once: nothing more arrives while the price stays above. The
	// probe alert fires on a later tick; the evaluator handles the log in
	// order and pushes and dispatches each firing as it commits it, so a
	// second firing of the first alert would come before the probe's.
	ingest(200)
	ingest(300)
	m = ws.next(func(m msg) bool { return m.Channel == "alerts" })
	if err := json.Unmarshal(m.Data, &wsEvent); err != nil || wsEvent.AlertID != probe.ID {
		t.Fatalf("WebSocket alert after the first = %+v (%s), want the probe's (alert %d)", m, m.Data, probe.ID)
	}
	if mails := mail.Wait(4, 20*time.Second); len(mails) != 4 || !strings.Contains(mails[3].Data, fmt.Sprintf("Your alert %d fired", probe.ID)) {
		t.Fatalf("SMTP server received %d mails, want 4: two verification links, the first alert's once, then the probe's", len(mails))
	}
	hooks = hook.Wait(2, 20*time.Second)
	if len(hooks) != 2 || json.Unmarshal(hooks[1].Body, &payload) != nil || payload.Event.AlertID != probe.ID {
		t.Fatalf("webhook receiver got %d requests, want 2: the first alert's once, then the probe's", len(hooks))
	}
	alice.must(204, viaBearer, "DELETE", fmt.Sprintf("/api/v1/alerts/%d", probe.ID), nil, nil)
	for _, w := range []*wsClient{ws, bobWS} {
	drain:
		for {
			select {
			case m := <-w.msgs:
				if m.Channel == "alerts" {
					t.Fatalf("an extra alert message %+v (%s)", m, m.Data)
				}
			default:
				break drain
			}
		}
	}
	var events struct {
		Data []struct {
			AlertID int64 `json:"alert_id"`
		} `json:"data"`
	}
	alice.must(200, viaBearer, "GET", "/api/v1/alerts/events", nil, &events)
	fired := map[int64]int{}
	for _, ev := range events.Data {
		fired[ev.AlertID]++
	}
	if len(events.Data) != 2 || fired[al.ID] != 1 || fired[probe.ID] != 1 {
		t.Fatalf("GET /alerts/events = %+v, want one firing of alert %d and one of the probe %d", events.Data, al.ID, probe.ID)
	}

	// Reports: the CSV's rows are the candles API's candles.
	from, to := now-60*60_000, now+60_000
	cs := waitCandles(t, in, sym, from, to, int64(ticks))
	var rep struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	reportReq := map[string]any{"symbols": []string{sym}, "interval": "1m", "from": from, "to": to, "format": "csv"}
	requested := time.Now().UnixMilli() / 60_000 * 60_000 // the candles before it are closed
	alice.must(202, viaBearer, "POST", "/api/v1/reports", reportReq, &rep)
	if rep.Status != "queued" {
		t.Fatalf("POST /reports status = %q, want queued", rep.Status)
	}
	done := alice.waitReport(rep.ID)
	code, hdr, body := download(t, in, done.DownloadURL)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("GET %s = %d (%s) %s, want 200 text/csv", done.DownloadURL, code, hdr.Get("Content-Type"), body)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("report CSV %q: %v", body, err)
	}
	var fromCSV []candle
	for _, row := range rows[1:] {
		if row[0] != sym || row[1] != "1m" {
			t.Fatalf("CSV row %v, want %s 1m", row, sym)
		}
		f := func(i int) float64 {
			v, err := strconv.ParseFloat(row[i], 64)
			if err != nil {
				t.Fatalf("CSV row %v col %d: %v", row, i, err)
			}
			return v
		}
		start, err := time.Parse(time.RFC3339, row[2]) // ISO 8601, UTC
		if err != nil {
			t.Fatalf("CSV row %v start: %v", row, err)
		}
		fromCSV = append(fromCSV, candle{Start: start.UnixMilli(), Open: f(3), High: f(4), Low: f(5), Close: f(6), Volume: f(7), Count: int64(f(8))})
	}
	// Closed candles only: every candle closed when the report was asked
	// for, and none still open when it was built.
	closed := 0
	for closed < len(cs) && cs[closed].Start < requested {
		closed++
	}
	if len(fromCSV) < closed || len(fromCSV) > len(cs) {
		t.Fatalf("CSV holds %d candles; want the %d closed when asked for, of %d", len(fromCSV), closed, len(cs))
	}
	if diff := cmp.Diff(cs[:len(fromCSV)], fromCSV); diff != "" {
		t.Fatalf("CSV report rows differ from GET /candles (-api +csv):\n%s", diff)
	}
	if int64(len(body)) != done.Size {
		t.Fatalf("report size = %d, downloaded %d bytes", done.Size, len(body))
	}
	// A tampered signature is a 404.
	if code, _, _ := download(t, in, strings.Replace(done.DownloadURL, "sig=", "sig=00", 1)); code != 404 {
		t.Fatalf("download with a bad sig = %d, want 404", code)
	}

	// A PDF report of the same range.
	reportReq["format"] = "pdf"
	alice.must(202, viaBearer, "POST", "/api/v1/reports", reportReq, &rep)
	pdf := alice.waitReport(rep.ID)
	code, hdr, body = download(t, in, pdf.DownloadURL)
	if code != 200 || hdr.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(body, []byte("%PDF-")) {
		t.Fatalf("GET %s = %d (%s) %.20q, want 200 application/pdf starting %%PDF-", pdf.DownloadURL, code, hdr.Get("Content-Type"), body)
	}

	// Bob sees none of it, and can change none of it: every route that
	// takes an id answers 404 (never 403: ids cannot be probed); every list
	// is empty of Alice's things. Without credentials, every route is 401.
	alertPath := fmt.Sprintf("/api/v1/alerts/%d", al.ID)
	wlPath := fmt.Sprintf("/api/v1/watchlists/%d", list.ID)
	repPath := fmt.Sprintf("/api/v1/reports/%d", rep.ID)
	keyPath := fmt.Sprintf("/api/v1/apikeys/%d", key.ID)
	routes := []struct {
		method, path string
		body         any
		bob          int // Bob's answer
	}{
		{"GET", "/api/v1/me", nil, 200},
		{"POST", "/api/v1/auth/ws-token", nil, 200},
		{"GET", "/api/v1/apikeys", nil, 200},
		{"DELETE", keyPath, nil, 404},
		{"GET", "/api/v1/watchlists", nil, 200},
		{"GET", wlPath, nil, 404},
		{"PUT", wlPath, map[string]any{"name": "mine", "symbols": []string{"AAPL"}}, 404},
		{"DELETE", wlPath, nil, 404},
		{"GET", "/api/v1/alerts", nil, 200},
		{"PATCH", alertPath, map[string]any{"paused": true}, 404},
		{"DELETE", alertPath, nil, 404},
		{"GET", "/api/v1/alerts/events", nil, 200},
		{"GET", "/api/v1/webhook-secret", nil, 200},
		{"GET", "/api/v1/reports", nil, 200},
		{"GET", repPath, nil, 404},
	}
	for _, r := range routes {
		t.Run("authz "+r.method+" "+r.path, func(t *testing.T) {
			for _, mode := range []authMode{viaBearer, viaCookie} {
				code, b := bob.do(mode, r.method, r.path, r.body)
				if code != r.bob {
					t.Errorf("Bob (mode %d): %s %s = %d %s, want %d", mode, r.method, r.path, code, b, r.bob)
				}
				if isList := r.method == "GET" && (strings.HasSuffix(r.path, "s") || strings.HasSuffix(r.path, "events")); code == 200 && isList {
					var l struct {
						Data []json.RawMessage `json:"data"`
					}
					if err := json.Unmarshal(b, &l); err != nil || len(l.Data) != 0 {
						t.Errorf("Bob: %s %s = %s, want an empty list", r.method, r.path, b)
					}
				}
				if r.path == "/api/v1/webhook-secret" && bytes.Contains(b, []byte(secret.Secret)) {
					t.Errorf("Bob's webhook secret is Alice's")
				}
			}
			if code, b := anon.do(viaNone, r.method, r.path, r.body); code != 401 {
				t.Errorf("anonymous: %s %s = %d %s, want 401", r.method, r.path, code, b)
			}
		})
	}
	// Alice's things are untouched.
	alice.must(200, viaBearer, "GET", wlPath, nil, &list)
	if diff := cmp.Diff([]string{sym}, list.Symbols); diff != "" {
		t.Fatalf("Alice's watchlist changed (-want +got):\n%s", diff)
	}
	var alerts struct {
		Data []struct {
			ID     int64 `json:"id"`
			Paused bool  `json:"paused"`
		} `json:"data"`
	}
	alice.must(200, viaBearer, "GET", "/api/v1/alerts", nil, &alerts)
	if len(alerts.Data) != 1 || alerts.Data[0].ID != al.ID || alerts.Data[0].Paused {
		t.Fatalf("Alice's alerts = %+v, want alert %d, not paused", alerts.Data, al.ID)
	}
	alice.must(200, viaBearer, "GET", repPath, nil, nil)
	if code, _ := postTicks(t, in, key.Secret, tick(ticks, 100)); code != 202 {
		t.Fatalf("Alice's API key after Bob tried to delete it: POST ticks = %d, want 202", code)
	}

	// Alice deletes her own; logging out revokes the session.
	alice.must(204, viaBearer, "DELETE", alertPath, nil, nil)
	alice.must(204, viaCookie, "DELETE", wlPath, nil, nil)
	alice.must(204, viaBearer, "DELETE", keyPath, nil, nil)
	if code, _ := postTicks(t, in, key.Secret, tick(ticks+1, 100)); code != 401 {
		t.Fatalf("POST ticks with a revoked API key = %d, want 401", code)
	}
	alice.must(204, viaBearer, "POST", "/api/v1/auth/logout", nil, nil)
	alice.must(401, viaBearer, "GET", "/api/v1/me", nil, nil)
}
