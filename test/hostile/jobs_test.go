package hostile_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/findash/findash/internal/notify/notifytest"
)

// TestReportFloodDoesNotDelayAlerts (issue 13 item 9): one user asks for 300
// PDF reports of 20 symbols while another user's alert fires. Before, all
// 300 were queued on the one pool of 10 workers that also sent alert
// e-mails, and the e-mail waited behind them. Now the user gets 429
// too_many_reports past --reports-max-queued (20), their reports build at
// most --reports-max-running (2) at a time on the reports queue, and the
// e-mail goes out on its own queue within a couple of seconds. Measured
// on the binary before the fix (1510aca): all 300 accepted, 265 still
// queued after the flood, the e-mail not sent within 120 s (the reports
// drained at ~1.5/s); after: 37 accepted over the flood, at most 20 queued
// or running at once, the e-mail sent 100–180 ms after its tick.
func TestReportFloodDoesNotDelayAlerts(t *testing.T) {
	smtp := notifytest.NewSMTPServer(t)
	s := startServer(t, options{user: "feed@example.com", env: []string{"FINDASH_SMTP_URL=" + smtp.URL}})
	victim := s.login("victim@example.com", "correct horse battery")
	flooder := s.login("flooder@example.com", "correct horse battery")
	if code, _, body := s.post("/api/v1/alerts", `{"symbol":"VICT","condition":"above","threshold":100,"notify":["email"]}`,
		"Authorization", "Bearer "+victim, "Content-Type", "application/json"); code != 201 {
		t.Fatalf("create the victim's alert = %d %s", code, body)
	}

	// 20 symbols × 1,000 one-minute candles, so each report is real work.
	const symbols, minutes = 20, 1000
	now := time.Now().Truncate(time.Minute)
	from := now.Add(-minutes * time.Minute)
	var feed strings.Builder
	var syms []string
	for i := range symbols {
		sym := fmt.Sprintf("FL%02d", i)
		syms = append(syms, sym)
		for m := range minutes {
			fmt.Fprintf(&feed, `{"symbol":%q,"ts":%d,"price":%d,"size":1}`+"\n", sym, from.Add(time.Duration(m)*time.Minute).UnixMilli(), 50+(m*7+i)%40)
		}
	}
	if code, body := s.PostTicks(feed.String()); code != 202 {
		t.Fatalf("POST the market data = %d %s", code, body)
	}
	symJSON, _ := json.Marshal(syms)
	req := fmt.Sprintf(`{"symbols":%s,"interval":"1m","from":%d,"to":%d,"format":"pdf"}`, symJSON, from.UnixMilli(), now.UnixMilli())

	// The flood: 300 requests, paced under the per-user request limit
	// (20/s) so that only the report cap can refuse them.
	var accepted, refused int
	pace := time.NewTicker(time.Second / 18)
	defer pace.Stop()
	for i := range 300 {
		<-pace.C
		code, h, body := s.post("/api/v1/reports", req, "Authorization", "Bearer "+flooder, "Content-Type", "application/json")
		switch {
		case code == 202:
			accepted++
		case code == 429 && strings.Contains(body, `"code":"too_many_reports"`) && h.Get("Retry-After") != "":
			refused++
		default:
			t.Fatalf("report request %d = %d %s (Retry-After %q), want 202 or 429 too_many_reports with Retry-After", i, code, body, h.Get("Retry-After"))
		}
	}
	queued, running := s.reportStates(flooder)
	t.Logf("300 report requests: %d accepted, %d refused with 429 too_many_reports; now %d queued, %d running",
		accepted, refused, queued, running)
	if refused == 0 || queued+running > 20 || running > 2 {
		t.Errorf("one user's reports: %d refused, %d queued, %d running; want some refused, at most 20 queued or running, at most 2 running",
			refused, queued, running)
	}

	// The victim's alert fires now, behind whatever the flood left queued.
	fired := time.Now()
	if code, body := s.PostTicks(fmt.Sprintf(`{"symbol":"VICT","ts":%d,"price":101,"size":1}`, fired.UnixMilli())); code != 202 {
		t.Fatalf("POST the alert's tick = %d %s", code, body)
	}
	mails := smtp.Wait(1, 120*time.Second)
	delay := time.Since(fired)
	if len(mails) == 0 {
		t.Fatalf("the victim's alert e-mail was not sent within 120 s of the tick")
	}
	t.Logf("alert e-mail sent %v after the tick that fired it (reports: %v queued, %v running)", delay.Round(time.Millisecond),
		s.Metric("findash_jobs_queue_depth", `queue="reports"`), s.Metric("findash_jobs_queue_running", `queue="reports"`))
	if !strings.Contains(strings.Join(mails[0].To, ","), "victim@example.com") {
		t.Errorf("the e-mail went to %v, want the victim", mails[0].To)
	}
	if delay > 3*time.Second {
		t.Errorf("the alert e-mail took %v behind one user's report flood, want under 3 s", delay.Round(time.Millisecond))
	}
	if got := s.Metric("findash_reports_rejected_total"); got != float64(refused) {
		t.Errorf("findash_reports_rejected_total = %v, want %d", got, refused)
	}
}

// reportStates counts the caller's (session token) reports queued and
// running, from their newest 1,000.
func (s *server) reportStates(session string) (queued, running int) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/reports?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+session)
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatalf("GET /api/v1/reports: %v", err)
	}
	defer resp.Body.Close()
	var page struct {
		Data []struct{ Status string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		s.t.Fatalf("GET /api/v1/reports = %d, %v", resp.StatusCode, err)
	}
	for _, r := range page.Data {
		switch r.Status {
		case "queued":
			queued++
		case "running":
			running++
		}
	}
	return queued, running
}
