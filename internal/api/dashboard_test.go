package api_test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/notify"
	"github.com/findash/findash/internal/notify/notifytest"
	"github.com/findash/findash/internal/portfolio"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/watchlist"
)

// withMail serves the real account services with mail going through the
// real outbox and mailer to a real SMTP server (notifytest), links under
// https://dash.example.
func withMail(t *testing.T, smtp *notifytest.SMTPServer) option {
	return func(c *api.Config, d *api.Deps) {
		db := d.Candles.(*sqlite.DB)
		now := func() time.Time { return testNow }
		mailer, err := notify.NewMailer(notify.MailConfig{URL: smtp.URL, From: "alerts@dash.example"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := notify.NewOutbox(mailer, 10, nil, nil)
		done := make(chan struct{})
		ctx := t.Context()
		go func() { defer close(done); out.Run(ctx) }()
		t.Cleanup(func() { <-done })
		svc := auth.NewService(db, argon2id.New(fastHash, 2), auth.Config{Now: now, Mailer: out, PublicURL: "https://dash.example/"}, nil)
		d.Auth, d.Accounts = svc, svc
		d.Watchlists = watchlist.NewService(db, watchlist.Config{Now: now})
		d.Portfolio = portfolio.NewService(db, now)
	}
}

var linkRE = regexp.MustCompile(`https://dash\.example/([a-z-]+)#token=(fdt_[A-Za-z0-9_-]{43})`)

// linkIn returns the page and token of the link in mail n (1-based) once
// it arrived.
func linkIn(t *testing.T, smtp *notifytest.SMTPServer, n int) (page, token string, m notifytest.Mail) {
	t.Helper()
	mails := smtp.Wait(n, 10*time.Second)
	if len(mails) < n {
		t.Fatalf("%d mails arrived, want %d", len(mails), n)
	}
	m = mails[n-1]
	got := linkRE.FindStringSubmatch(m.Data)
	if got == nil {
		t.Fatalf("mail %d has no link:\n%s", n, m.Data)
	}
	return got[1], got[2], m
}

func TestVerifyAndResetByMail(t *testing.T) {
	smtp := notifytest.NewSMTPServer(t)
	f := newFixture(t, withMail(t, smtp))
	anon := f.program("")
	var u struct {
		EmailVerified bool `json:"email_verified"`
	}
	json.Unmarshal(anon.must(t, 201, "POST", "/api/v1/auth/signup", map[string]string{"email": "Ann@Example.com", "password": "correct horse"}), &u)
	if u.EmailVerified {
		t.Fatal("a signed-up user is verified before opening the link")
	}
	page, token, m := linkIn(t, smtp, 1)
	if page != "verify" || m.From != "alerts@dash.example" || len(m.To) != 1 || m.To[0] != "ann@example.com" {
		t.Fatalf("verification mail: page %q from %q to %v", page, m.From, m.To)
	}
	// Unverified users may sign in (decision 0030).
	b, _ := f.signupLoginExisting(t, "ann@example.com", "correct horse")
	json.Unmarshal(anon.must(t, 200, "POST", "/api/v1/auth/verify", map[string]string{"token": token}), &u)
	if !u.EmailVerified {
		t.Fatal("verify did not verify")
	}
	json.Unmarshal(b.must(t, 200, "GET", "/api/v1/me", nil), &u)
	if !u.EmailVerified {
		t.Fatal("/me does not show the address verified")
	}
	if code := errCode(t, anon, 400, "POST", "/api/v1/auth/verify", map[string]string{"token": token}); code != "invalid_token" {
		t.Fatalf("a used token: %s, want invalid_token", code)
	}
	errCode(t, anon, 400, "POST", "/api/v1/auth/verify", map[string]string{"token": "fdt_" + strings.Repeat("A", 43)})

	// Reset: an unknown address gets the same 202 and no mail.
	anon.must(t, 202, "POST", "/api/v1/auth/password-reset", map[string]string{"email": "nobody@example.com"})
	anon.must(t, 202, "POST", "/api/v1/auth/password-reset", map[string]string{"email": "ann@example.com"})
	page, token, _ = linkIn(t, smtp, 2)
	if page != "reset-password" {
		t.Fatalf("reset link page %q", page)
	}
	if n := len(smtp.Mails()); n != 2 {
		t.Fatalf("%d mails, want 2 (none for the unknown address)", n)
	}
	errCode(t, anon, 400, "POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": token, "password": "short"})
	anon.must(t, 200, "POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": token, "password": "a new long secret"})
	b.must(t, 401, "GET", "/api/v1/me", nil) // every session ended
	errCode(t, anon, 400, "POST", "/api/v1/auth/password-reset/confirm", map[string]string{"token": token, "password": "another new one"})
	anon.must(t, 401, "POST", "/api/v1/auth/login", map[string]string{"email": "ann@example.com", "password": "correct horse"})
	anon.must(t, 200, "POST", "/api/v1/auth/login", map[string]string{"email": "ann@example.com", "password": "a new long secret"})
}

func TestSessionsListAndRevoke(t *testing.T) {
	smtp := notifytest.NewSMTPServer(t)
	f := newFixture(t, withMail(t, smtp))
	b1, _ := f.signupLogin(t, "ann@example.com")
	b2, _ := f.signupLoginExisting(t, "ann@example.com", "correct horse")
	bob, _ := f.signupLogin(t, "bob@example.com")
	var list struct {
		Data []struct {
			ID      string
			Current bool
		}
	}
	json.Unmarshal(b1.must(t, 200, "GET", "/api/v1/sessions", nil), &list)
	if len(list.Data) != 2 || list.Data[0].Current == list.Data[1].Current {
		t.Fatalf("sessions = %+v, want 2, one current", list.Data)
	}
	other := list.Data[0].ID
	if list.Data[0].Current {
		other = list.Data[1].ID
	}
	bob.must(t, 404, "DELETE", "/api/v1/sessions/"+other, nil) // not bob's
	b2.must(t, 200, "GET", "/api/v1/me", nil)
	b1.must(t, 204, "DELETE", "/api/v1/sessions/"+other, nil)
	b2.must(t, 401, "GET", "/api/v1/me", nil)
	b1.must(t, 200, "GET", "/api/v1/me", nil)
	b1.must(t, 404, "DELETE", "/api/v1/sessions/not-an-id", nil)
}

func TestPortfolioAPI(t *testing.T) {
	smtp := notifytest.NewSMTPServer(t)
	f := newFixture(t, withMail(t, smtp))
	ann, _ := f.signupLogin(t, "ann@example.com")
	bob, _ := f.signupLogin(t, "bob@example.com")
	var h struct {
		ID    int64
		Value *float64
		PnL   *float64 `json:"pnl"`
	}
	json.Unmarshal(ann.must(t, 201, "POST", "/api/v1/portfolio/holdings", map[string]any{"symbol": "BTC-USD", "quantity": 0.5, "cost_basis": 40000}), &h)
	// The fixture's last BTC-USD price is 43,775.
	if h.Value == nil || *h.Value != 21887.5 || *h.PnL != 1887.5 {
		t.Fatalf("holding = %+v, want value 21887.5 pnl 1887.5", h)
	}
	ann.must(t, 201, "POST", "/api/v1/portfolio/holdings", map[string]any{"symbol": "NOQUOTE", "quantity": 2, "cost_basis": 1})
	errCode(t, ann, 409, "POST", "/api/v1/portfolio/holdings", map[string]any{"symbol": "BTC-USD", "quantity": 1, "cost_basis": 1})
	errCode(t, ann, 400, "POST", "/api/v1/portfolio/holdings", map[string]any{"symbol": "ETH-USD", "quantity": -1, "cost_basis": 1})
	errCode(t, ann, 400, "POST", "/api/v1/portfolio/holdings", map[string]any{"symbol": "ETH-USD", "quantity": 1})
	var p struct {
		Holdings []struct {
			Symbol string
			Price  *float64
		}
		Totals struct {
			Cost, Value, PnL float64
			Priced           int
		}
	}
	json.Unmarshal(ann.must(t, 200, "GET", "/api/v1/portfolio", nil), &p)
	if len(p.Holdings) != 2 || p.Holdings[1].Symbol != "NOQUOTE" || p.Holdings[1].Price != nil ||
		p.Totals.Cost != 20002 || p.Totals.Value != 21887.5 || p.Totals.Priced != 1 {
		t.Fatalf("portfolio = %+v", p)
	}
	id := "/api/v1/portfolio/holdings/" + itoa(h.ID)
	bob.must(t, 404, "PUT", id, map[string]any{"quantity": 1, "cost_basis": 1})
	bob.must(t, 404, "DELETE", id, nil)
	json.Unmarshal(bob.must(t, 200, "GET", "/api/v1/portfolio", nil), &p)
	if len(p.Holdings) != 0 {
		t.Fatalf("bob sees %d holdings", len(p.Holdings))
	}
	json.Unmarshal(ann.must(t, 200, "PUT", id, map[string]any{"quantity": 1, "cost_basis": 43000}), &h)
	if *h.PnL != 775 {
		t.Fatalf("after PUT pnl = %v, want 775", *h.PnL)
	}
	ann.must(t, 204, "DELETE", id, nil)
	ann.must(t, 404, "DELETE", id, nil)
	f.program("").must(t, 401, "GET", "/api/v1/portfolio", nil)
}

func TestWatchlistSymbols(t *testing.T) {
	smtp := notifytest.NewSMTPServer(t)
	f := newFixture(t, withMail(t, smtp))
	ann, _ := f.signupLogin(t, "ann@example.com")
	bob, _ := f.signupLogin(t, "bob@example.com")
	var w struct {
		ID      int64
		Name    string
		Symbols []string
	}
	json.Unmarshal(ann.must(t, 201, "POST", "/api/v1/watchlists", map[string]any{"name": "crypto", "symbols": []string{"BTC-USD"}}), &w)
	base := "/api/v1/watchlists/" + itoa(w.ID)
	ann.must(t, 200, "POST", base+"/symbols", map[string]any{"symbol": "ETH-USD"})
	json.Unmarshal(ann.must(t, 200, "POST", base+"/symbols", map[string]any{"symbol": "EUR/USD", "position": 0}), &w)
	if strings.Join(w.Symbols, " ") != "EUR/USD BTC-USD ETH-USD" {
		t.Fatalf("symbols = %v", w.Symbols)
	}
	json.Unmarshal(ann.must(t, 200, "DELETE", base+"/symbols/EUR/USD", nil), &w)
	json.Unmarshal(ann.must(t, 200, "PATCH", base, map[string]any{"name": "coins"}), &w)
	if w.Name != "coins" || strings.Join(w.Symbols, " ") != "BTC-USD ETH-USD" {
		t.Fatalf("after delete and rename: %+v", w)
	}
	ann.must(t, 404, "DELETE", base+"/symbols/EUR/USD", nil)
	bob.must(t, 404, "POST", base+"/symbols", map[string]any{"symbol": "X"})
	bob.must(t, 404, "PATCH", base, map[string]any{"name": "mine"})
	errCode(t, ann, 400, "POST", base+"/symbols", map[string]any{"symbol": "bad symbol"})
}

func TestAlertEditAndRearmFields(t *testing.T) {
	f := newAccountsFixture(t, withAlerts(t, nil))
	ann, _ := f.signupLogin(t, "ann@example.com")
	bob, _ := f.signupLogin(t, "bob@example.com")
	var a struct {
		ID          int64
		Threshold   float64
		Hysteresis  float64
		CooldownS   int64  `json:"cooldown_s"`
		LastFiredAt *int64 `json:"last_fired_at"`
		Armed       bool
		Paused      bool
	}
	json.Unmarshal(ann.must(t, 201, "POST", "/api/v1/alerts", map[string]any{"symbol": "BTC-USD", "condition": "above", "threshold": 50000}), &a)
	if a.Hysteresis != 0.5 || a.CooldownS != 300 || a.LastFiredAt != nil {
		t.Fatalf("defaults: %+v", a)
	}
	id := "/api/v1/alerts/" + itoa(a.ID)
	json.Unmarshal(ann.must(t, 200, "PATCH", id, map[string]any{"threshold": 45000, "cooldown_s": 60, "hysteresis": 1}), &a)
	if a.Threshold != 45000 || a.CooldownS != 60 || a.Hysteresis != 1 || !a.Armed {
		t.Fatalf("after edit: %+v", a)
	}
	json.Unmarshal(ann.must(t, 200, "PATCH", id, map[string]any{"paused": true}), &a)
	if !a.Paused || a.Threshold != 45000 {
		t.Fatalf("after pause: %+v", a)
	}
	errCode(t, ann, 400, "PATCH", id, map[string]any{"cooldown_s": -1})
	errCode(t, ann, 400, "PATCH", id, map[string]any{"hysteresis": 51})
	errCode(t, ann, 400, "POST", "/api/v1/alerts", map[string]any{"symbol": "BTC-USD", "condition": "above", "threshold": 1, "cooldown_s": 604801})
	bob.must(t, 404, "PATCH", id, map[string]any{"threshold": 1})
}

// signupLoginExisting logs a new browser into an existing account.
func (f *fixture) signupLoginExisting(t *testing.T, email, password string) (*client, string) {
	t.Helper()
	b := f.browser(t)
	var out struct{ Token string }
	json.Unmarshal(b.must(t, 200, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}), &out)
	b.header.Set(api.CSRFHeader, b.cookie(api.CSRFCookie))
	return b, out.Token
}

// errCode sends a request that must fail with status and returns its error code.
func errCode(t *testing.T, c *client, status int, method, path string, body any) string {
	t.Helper()
	var e struct{ Error struct{ Code string } }
	json.Unmarshal(c.must(t, status, method, path, body), &e)
	return e.Error.Code
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
