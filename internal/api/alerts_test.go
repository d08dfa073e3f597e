package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/jobs"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/objstore"
	"github.com/findash/findash/internal/report"
	"github.com/findash/findash/internal/store/sqlite"
)

// withAlerts serves alerts from the fixture's store and reports through a
// real job queue (River on SQLite) and local object storage.
// withAlerts serves alerts and reports, the reports built by a job queue on
// SQLite. Each report's ID is sent on built (when not nil) once its job has
// finished with it (done, or failed for good).
func withAlerts(t *testing.T, built chan<- int64) option {
	return func(c *api.Config, d *api.Deps) {
		db := d.Candles.(*sqlite.DB)
		d.Alerts = db
		dir := t.TempDir()
		objs, err := objstore.NewLocal(filepath.Join(dir, "objects"))
		if err != nil {
			t.Fatal(err)
		}
		jdb, err := sqlite.OpenJobsDB(context.Background(), filepath.Join(dir, "jobs.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { jdb.Close() })
		var svc *report.Service
		q, err := jobs.New(context.Background(), riversqlite.New(jdb), jobs.Handlers{Reports: builder{&svc, built}},
			jobs.Config{PollInterval: 20 * time.Millisecond}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		svc = report.NewService(db, objs, q, report.Config{SigningKey: []byte("0123456789abcdef0123456789abcdef")}, nil)
		d.Reports = svc
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- q.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
}

// builder defers to the service built after the queue, and announces each
// report it has finished with on built (when not nil).
type builder struct {
	s     **report.Service
	built chan<- int64
}

func (b builder) BuildReport(ctx context.Context, id int64, wait market.Positions, last bool) error {
	err := (*b.s).BuildReport(ctx, id, wait, last)
	if b.built != nil && (err == nil || last) {
		select {
		case b.built <- id:
		case <-ctx.Done():
		}
	}
	return err
}

func TestAlertsRoutes(t *testing.T) {
	f := newAccountsFixture(t, withAlerts(t, nil))
	ann, _ := f.signupLogin(t, "ann@example.com")
	bob, bobToken := f.signupLogin(t, "bob@example.com")

	var created alert.Alert
	b := ann.must(t, 201, "POST", "/api/v1/alerts", map[string]any{"symbol": "BTC-USD", "condition": "above", "threshold": 100,
		"notify": []string{"webhook", "email"}, "webhook_url": "https://example.com/hook"})
	var raw map[string]any
	json.Unmarshal(b, &raw)
	if raw["created_at"] != float64(testNow.UnixMilli()) || raw["armed"] != true || raw["paused"] != false {
		t.Errorf("created alert = %s", b)
	}
	created.ID = int64(raw["id"].(float64))
	path := "/api/v1/alerts/" + strconv.FormatInt(created.ID, 10)

	bad := []struct {
		name string
		body string
		code string
	}{
		{"no threshold", `{"symbol":"A","condition":"above"}`, "invalid"},
		{"bad condition", `{"symbol":"A","condition":"crosses","threshold":1}`, "invalid"},
		{"bad symbol", `{"symbol":"a b","condition":"above","threshold":1}`, "invalid"},
		{"webhook without url", `{"symbol":"A","condition":"above","threshold":1,"notify":["webhook"]}`, "invalid"},
		{"javascript url", `{"symbol":"A","condition":"above","threshold":1,"notify":["webhook"],"webhook_url":"javascript:alert(1)"}`, "invalid"},
		{"unknown field", `{"symbol":"A","condition":"above","threshold":1,"extra":1}`, "bad_body"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := ann.do(t, "POST", "/api/v1/alerts", tc.body)
			if resp.StatusCode != 400 || !strings.Contains(string(b), `"code":"`+tc.code+`"`) {
				t.Errorf("POST %s = %d %s, want 400 %s", tc.body, resp.StatusCode, b, tc.code)
			}
		})
	}

	// Another user sees none of it and can change none of it.
	if b := bob.must(t, 200, "GET", "/api/v1/alerts", nil); string(b) != `{"data":[]}`+"\n" {
		t.Errorf("bob's alerts = %s, want none", b)
	}
	bob.must(t, 404, "DELETE", path, nil)
	bob.must(t, 404, "PATCH", path, map[string]bool{"paused": true})
	f.program(bobToken).must(t, 404, "DELETE", path, nil)

	var paused map[string]any
	json.Unmarshal(ann.must(t, 200, "PATCH", path, map[string]bool{"paused": true}), &paused)
	if paused["paused"] != true {
		t.Errorf("PATCH paused = %v", paused)
	}
	ann.must(t, 400, "PATCH", path, map[string]any{})
	var listed struct{ Data []map[string]any }
	json.Unmarshal(ann.must(t, 200, "GET", "/api/v1/alerts", nil), &listed)
	if len(listed.Data) != 1 || listed.Data[0]["paused"] != true || listed.Data[0]["webhook_url"] != "https://example.com/hook" {
		t.Errorf("ann's alerts = %v", listed.Data)
	}
	// 405 on the other methods of an id path, without a clash with /events.
	if resp, _ := ann.do(t, "GET", path, nil); resp.StatusCode != 405 || resp.Header.Get("Allow") != "DELETE, PATCH" {
		t.Errorf("GET %s = %d Allow %q, want 405 DELETE, PATCH", path, resp.StatusCode, resp.Header.Get("Allow"))
	}

	// Events: ann's only, newest first, paginated.
	db := f.db
	ctx := t.Context()
	if _, err := db.SetAlertPaused(ctx, userID(t, f, "ann@example.com"), created.ID, false); err != nil {
		t.Fatal(err)
	}
	a := alert.Alert{ID: created.ID, UserID: userID(t, f, "ann@example.com"), Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100}
	for i := range 3 {
		ev := alert.Event{AlertID: a.ID, UserID: a.UserID, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100,
			Value: 101, Price: 101, TS: t0, Seq: uint64(10 + i), Notify: []string{}, FiredAt: testNow}
		if _, _, ok, err := db.CommitAlerts(ctx, market.Unpartitioned, 0, uint64(i+1), []alert.Event{ev}, nil); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	var page struct {
		Data       []alert.Event
		NextCursor string `json:"next_cursor"`
	}
	json.Unmarshal(ann.must(t, 200, "GET", "/api/v1/alerts/events?limit=2", nil), &page)
	if len(page.Data) != 2 || page.Data[0].Seq != 12 || page.Data[1].Seq != 11 || page.NextCursor == "" {
		t.Fatalf("events page 1 = %+v", page)
	}
	json.Unmarshal(ann.must(t, 200, "GET", "/api/v1/alerts/events?limit=2&cursor="+page.NextCursor, nil), &page)
	if len(page.Data) != 1 || page.Data[0].Seq != 10 || !page.Data[0].FiredAt.Equal(testNow.Truncate(time.Millisecond)) {
		t.Errorf("events page 2 = %+v", page)
	}
	ann.must(t, 400, "GET", "/api/v1/alerts/events?cursor=zzz", nil)
	if b := bob.must(t, 200, "GET", "/api/v1/alerts/events", nil); string(b) != `{"data":[]}`+"\n" {
		t.Errorf("bob's events = %s, want none", b)
	}

	// The webhook secret is stable per user and differs between users.
	var s1, s2, s3 struct{ Secret string }
	json.Unmarshal(ann.must(t, 200, "GET", "/api/v1/webhook-secret", nil), &s1)
	json.Unmarshal(ann.must(t, 200, "GET", "/api/v1/webhook-secret", nil), &s2)
	json.Unmarshal(bob.must(t, 200, "GET", "/api/v1/webhook-secret", nil), &s3)
	if !strings.HasPrefix(s1.Secret, "whsec_") || s1 != s2 || s1 == s3 {
		t.Errorf("webhook secrets: ann %q then %q, bob %q", s1.Secret, s2.Secret, s3.Secret)
	}

	ann.must(t, 204, "DELETE", path, nil)
	ann.must(t, 404, "DELETE", path, nil)
	// Unauthenticated: 401 everywhere.
	for _, r := range [][2]string{{"GET", "/api/v1/alerts"}, {"POST", "/api/v1/alerts"}, {"GET", "/api/v1/alerts/events"}, {"DELETE", path}, {"PATCH", path}, {"GET", "/api/v1/webhook-secret"}, {"GET", "/api/v1/reports"}, {"POST", "/api/v1/reports"}, {"GET", "/api/v1/reports/1"}} {
		f.program("").must(t, 401, r[0], r[1], nil)
	}
}

func userID(t *testing.T, f *fixture, email string) int64 {
	t.Helper()
	u, err := f.db.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func TestReportsRoutes(t *testing.T) {
	built := make(chan int64, 1)
	f := newAccountsFixture(t, withAlerts(t, built))
	ann, _ := f.signupLogin(t, "ann@example.com")
	bob, _ := f.signupLogin(t, "bob@example.com")
	var syms []string
	for _, q := range f.state.Quotes(nil) {
		syms = append(syms, q.Symbol)
	}
	body := map[string]any{"symbols": syms, "interval": "1m", "from": market.MinTS, "to": market.MaxTS, "format": "csv"}
	var queued struct {
		ID     int64
		Status string
	}
	json.Unmarshal(ann.must(t, 202, "POST", "/api/v1/reports", body), &queued)
	if queued.Status != "queued" || queued.ID == 0 {
		t.Fatalf("POST /api/v1/reports = %+v", queued)
	}
	path := fmt.Sprintf("/api/v1/reports/%d", queued.ID)
	bob.must(t, 404, "GET", path, nil)

	var rep struct {
		Status      string
		DownloadURL string `json:"download_url"`
		Error       string
	}
	select {
	case id := <-built:
		if id != queued.ID {
			t.Fatalf("built report %d, want %d", id, queued.ID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("report not built within 20 s")
	}
	if json.Unmarshal(ann.must(t, 200, "GET", path, nil), &rep); rep.Status != "done" {
		t.Fatalf("report = %+v, want done", rep)
	}
	// The signed URL needs no session; anything tampered is 404.
	anon := f.program("")
	resp, b := anon.do(t, "GET", rep.DownloadURL, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("download = %d %s", resp.StatusCode, resp.Header)
	}
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{report.CSVHeader}
	for _, s := range syms {
		cs, err := f.db.Candles(t.Context(), market.CandleQuery{Symbol: s, Interval: market.Interval1m, From: market.MinTS, To: market.MaxTS, Limit: market.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		dec := 0 // the symbol's precision in the report
		for i := range cs {
			dec = max(dec, report.CandleDecimals(&cs[i]))
		}
		p := func(v float64) string { return report.FormatPrice(v, dec) }
		for _, c := range cs {
			want = append(want, []string{c.Symbol, "1m", report.FormatTime(c.Start), p(c.Open), p(c.High), p(c.Low), p(c.Close), report.FormatVolume(c.Volume), strconv.FormatInt(c.Count, 10)})
		}
	}
	if len(want) < 3 {
		t.Fatalf("fixture has only %d candle rows", len(want)-1)
	}
	if diff := gocmp.Diff(want, rows); diff != "" {
		t.Errorf("report rows (-candles store +csv):\n%s", diff)
	}
	for _, u := range []string{
		strings.Replace(rep.DownloadURL, "sig=", "sig=0", 1),
		strings.Replace(rep.DownloadURL, "expires=", "expires=1", 1),
		strings.Replace(rep.DownloadURL, path, fmt.Sprintf("/api/v1/reports/%d", queued.ID+1), 1),
	} {
		anon.must(t, 404, "GET", u, nil)
	}

	var list struct{ Data []map[string]any }
	json.Unmarshal(ann.must(t, 200, "GET", "/api/v1/reports", nil), &list)
	if len(list.Data) != 1 {
		t.Errorf("ann's reports = %v", list.Data)
	}
	if b := bob.must(t, 200, "GET", "/api/v1/reports", nil); string(b) != `{"data":[]}`+"\n" {
		t.Errorf("bob's reports = %s", b)
	}
	for name, bad := range map[string]map[string]any{
		"bad interval": {"symbols": syms, "interval": "2m", "from": market.MinTS, "to": market.MaxTS, "format": "csv"},
		"no symbols":   {"symbols": []string{}, "interval": "1m", "from": market.MinTS, "to": market.MaxTS, "format": "csv"},
		"from > to":    {"symbols": syms, "interval": "1m", "from": market.MaxTS, "to": market.MinTS, "format": "csv"},
	} {
		if resp, b := ann.do(t, "POST", "/api/v1/reports", bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: POST = %d %s, want 400", name, resp.StatusCode, b)
		}
	}
}

// queueNothing stands in for the job queue: reports stay queued.
type queueNothing struct{}

func (queueNothing) EnqueueReport(context.Context, int64, market.Positions) error { return nil }

// A user with the most reports queued or running gets 429 too_many_reports
// in the error shape, with Retry-After; another user is not affected
// (issue 13 item 9).
func TestReportsPerUserCap(t *testing.T) {
	f := newAccountsFixture(t, func(c *api.Config, d *api.Deps) {
		objs, err := objstore.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		d.Reports = report.NewService(d.Candles.(*sqlite.DB), objs, queueNothing{},
			report.Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"), MaxQueued: 2}, nil)
	})
	ann, _ := f.signupLogin(t, "ann@example.com")
	bob, _ := f.signupLogin(t, "bob@example.com")
	body := map[string]any{"symbols": []string{"BTC-USD"}, "interval": "1m", "from": 0, "to": 1, "format": "csv"}
	body["from"], body["to"] = market.MinTS, market.MinTS+60_000
	for range 2 {
		ann.must(t, 202, "POST", "/api/v1/reports", body)
	}
	raw, _ := json.Marshal(body)
	resp, b := ann.do(t, "POST", "/api/v1/reports", string(raw))
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != 429 || e.Error.Code != "too_many_reports" ||
		!strings.Contains(e.Error.Message, "2 at once") || resp.Header.Get("Retry-After") != "10" {
		t.Errorf("third report = %d %s (Retry-After %q), want 429 too_many_reports naming the cap, Retry-After 10",
			resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	bob.must(t, 202, "POST", "/api/v1/reports", body)
}
