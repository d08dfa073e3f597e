package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/report"
)

// AlertStore is what a store offers alerts, webhooks and reports: the
// alert evaluator's alert.Store, the API's and the workers' methods.
type AlertStore interface {
	CreateUser(ctx context.Context, u auth.User) (auth.User, error)

	alert.Store
	CreateAlert(ctx context.Context, a alert.Alert, maxPerUser int) (alert.Alert, error)
	Alerts(ctx context.Context, userID int64) ([]alert.Alert, error)
	DeleteAlert(ctx context.Context, userID, id int64) error
	SetAlertPaused(ctx context.Context, userID, id int64, paused bool) (alert.Alert, error)
	UpdateAlert(ctx context.Context, a alert.Alert) (alert.Alert, error)
	AlertEvents(ctx context.Context, userID, before int64, limit int) ([]alert.Event, error)
	AlertEvent(ctx context.Context, id int64) (alert.Event, error)
	WebhookSecret(ctx context.Context, userID int64, candidate string) (string, error)

	CreateReport(ctx context.Context, r report.Report, maxActive int) (report.Report, error)
	StartReport(ctx context.Context, id int64, maxRunning int, at time.Time) (bool, error)
	Report(ctx context.Context, userID, id int64) (report.Report, error)
	Reports(ctx context.Context, userID, before int64, limit int) ([]report.Report, error)
	SetReportStatus(ctx context.Context, id int64, status report.Status, objectKey string, size int64, msg string, at time.Time) error
}

// RunAlerts runs the alerts, webhook-secret and reports conformance suite.
// open must return a fresh, migrated, empty store for each call and close
// it when t ends.
func RunAlerts(t *testing.T, open func(t *testing.T) AlertStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s AlertStore)
	}{
		{"AlertsCRUD", testAlertsCRUD},
		{"CommitAlertsOnce", testCommitAlertsOnce},
		{"CommitAlertsByPartition", testCommitAlertsByPartition},
		{"CommitAlertsBehind", testCommitAlertsBehind},
		{"EventsAndOutbox", testEventsAndOutbox},
		{"WebhookSecret", testWebhookSecret},
		{"Reports", testReports},
		{"ReportCaps", testReportCaps},
		{"AlertRules", testAlertRules},
		{"AlertRevision", testAlertRevision},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

func userOf(t *testing.T, s AlertStore, email string) int64 {
	t.Helper()
	u, err := s.CreateUser(t.Context(), auth.User{Email: email, CreatedAt: created})
	if err != nil {
		t.Fatalf("CreateUser(%q) error: %v", email, err)
	}
	return u.ID
}

func mustAlert(t *testing.T, s AlertStore, a alert.Alert) alert.Alert {
	t.Helper()
	got, err := s.CreateAlert(t.Context(), a, 100)
	if err != nil {
		t.Fatalf("CreateAlert(%+v) error: %v", a, err)
	}
	return got
}

func version(t *testing.T, s AlertStore) int64 {
	t.Helper()
	v, err := s.AlertsVersion(t.Context())
	if err != nil {
		t.Fatalf("AlertsVersion() error: %v", err)
	}
	return v
}

func testAlertsCRUD(t *testing.T, s AlertStore) {
	ctx := t.Context()
	ann, bob := userOf(t, s, "ann@example.com"), userOf(t, s, "bob@example.com")
	v0 := version(t, s)
	a := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100,
		Notify: []string{"email", "webhook"}, WebhookURL: "https://example.com/hook", CreatedAt: created, CreatedSeq: 1 << 40})
	want := alert.Alert{ID: a.ID, UserID: ann, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100,
		Notify: []string{"email", "webhook"}, WebhookURL: "https://example.com/hook", Armed: true, CreatedAt: created.Truncate(time.Millisecond), CreatedSeq: 1 << 40}
	if diff := gocmp.Diff(want, a); diff != "" {
		t.Errorf("CreateAlert() (-want +got):\n%s", diff)
	}
	if v := version(t, s); v == v0 {
		t.Error("AlertsVersion() did not change on create")
	}
	b := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "ETH-USD", Condition: alert.ChangePctBelow, Threshold: -5, Notify: []string{}, CreatedAt: created})
	mustAlert(t, s, alert.Alert{UserID: bob, Symbol: "ETH-USD", Condition: alert.Below, Threshold: 1, Notify: []string{}, CreatedAt: created})

	got, err := s.Alerts(ctx, ann)
	if err != nil {
		t.Fatalf("Alerts() error: %v", err)
	}
	if diff := gocmp.Diff([]alert.Alert{want, b}, got); diff != "" {
		t.Errorf("Alerts(ann) (-want +got):\n%s", diff)
	}

	// Another user's alert is not found, for pause and delete alike.
	if _, err := s.SetAlertPaused(ctx, bob, a.ID, true); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("SetAlertPaused(bob, ann's alert) error = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAlert(ctx, bob, a.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("DeleteAlert(bob, ann's alert) error = %v, want ErrNotFound", err)
	}
	v1 := version(t, s)
	p, err := s.SetAlertPaused(ctx, ann, a.ID, true)
	if err != nil || !p.Paused {
		t.Errorf("SetAlertPaused(true) = %+v, %v; want paused", p, err)
	}
	if version(t, s) == v1 {
		t.Error("AlertsVersion() did not change on pause")
	}
	all, v, err := s.EvaluatedAlerts(ctx)
	if err != nil || len(all) != 3 || v != version(t, s) {
		t.Errorf("EvaluatedAlerts() = %d alerts, version %d, %v; want 3, %d", len(all), v, err, version(t, s))
	}
	if err == nil && (all[0].ID != a.ID || all[0].CreatedSeq != 1<<40 || all[1].CreatedSeq != 0) {
		t.Errorf("EvaluatedAlerts() created_seq = %d, %d; want %d (given), 0 (none given)", all[0].CreatedSeq, all[1].CreatedSeq, uint64(1<<40))
	}
	if _, err := s.CreateAlert(ctx, alert.Alert{UserID: ann, Symbol: "X", Condition: alert.Above, Threshold: 1, CreatedAt: created, CreatedSeq: 1 << 63}, 100); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("CreateAlert(CreatedSeq 2^63) error = %v, want ErrInvalid", err)
	}
	if err := s.DeleteAlert(ctx, ann, a.ID); err != nil {
		t.Errorf("DeleteAlert() error: %v", err)
	}
	if err := s.DeleteAlert(ctx, ann, a.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("DeleteAlert() twice error = %v, want ErrNotFound", err)
	}

	// The per-user cap.
	if _, err := s.CreateAlert(ctx, alert.Alert{UserID: ann, Symbol: "X", Condition: alert.Above, Threshold: 1, CreatedAt: created}, 1); !errors.Is(err, market.ErrConflict) {
		t.Errorf("CreateAlert() beyond the cap error = %v, want ErrConflict", err)
	}
	if _, err := s.CreateAlert(ctx, alert.Alert{UserID: 9999, Symbol: "X", Condition: alert.Above, Threshold: 1, CreatedAt: created}, 10); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("CreateAlert(unknown user) error = %v, want ErrNotFound", err)
	}
}

func event(a alert.Alert, seq uint64, price float64) alert.Event {
	return alert.Event{AlertID: a.ID, UserID: a.UserID, Symbol: a.Symbol, Condition: a.Condition, Threshold: a.Threshold,
		Value: price, Price: price, TS: day0 + int64(seq), Seq: seq, Notify: a.Notify, WebhookURL: a.WebhookURL, FiredAt: created}
}

func commit(t *testing.T, s AlertStore, logSeq uint64, fired []alert.Event, armed []alert.ArmedChange) ([]alert.Event, bool) {
	t.Helper()
	ins, _, ok, err := s.CommitAlerts(t.Context(), market.Unpartitioned, 0, logSeq, fired, armed)
	if err != nil {
		t.Fatalf("CommitAlerts(%d) error: %v", logSeq, err)
	}
	return ins, ok
}

func testCommitAlertsOnce(t *testing.T, s AlertStore) {
	ctx := t.Context()
	ann := userOf(t, s, "ann@example.com")
	a := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "AAA", Condition: alert.Above, Threshold: 10, Notify: []string{"email"}, CreatedAt: created})
	if pos, err := s.AlertPosition(ctx, market.Unpartitioned); err != nil || pos != 0 {
		t.Fatalf("AlertPosition() on an empty store = %d, %v; want 0, nil", pos, err)
	}
	ins, ok := commit(t, s, 5, []alert.Event{event(a, 77, 11)}, []alert.ArmedChange{{AlertID: a.ID, Armed: false}})
	if !ok || len(ins) != 1 || ins[0].ID == 0 {
		t.Fatalf("CommitAlerts(5) = %+v, %v; want one event with an ID, applied", ins, ok)
	}
	want := event(a, 77, 11)
	want.ID, want.FiredAt = ins[0].ID, created.Truncate(time.Millisecond)
	if diff := gocmp.Diff(want, ins[0]); diff != "" {
		t.Errorf("inserted event (-want +got):\n%s", diff)
	}
	// The same position again (a second evaluator, or a restart): nothing.
	if ins, ok := commit(t, s, 5, []alert.Event{event(a, 77, 11)}, nil); ok || len(ins) != 0 {
		t.Errorf("CommitAlerts(5) again = %v, %v; want nothing, not applied", ins, ok)
	}
	if ins, ok := commit(t, s, 4, []alert.Event{event(a, 60, 11)}, nil); ok || len(ins) != 0 {
		t.Errorf("CommitAlerts(4) below the position = %v, %v; want nothing, not applied", ins, ok)
	}
	// A later position repeating the same crossing: the unique key holds.
	if ins, ok := commit(t, s, 6, []alert.Event{event(a, 77, 11)}, nil); !ok || len(ins) != 0 {
		t.Errorf("CommitAlerts(6, same crossing) = %v, %v; want nothing inserted, applied", ins, ok)
	}
	if pos, _ := s.AlertPosition(ctx, market.Unpartitioned); pos != 6 {
		t.Errorf("AlertPosition() = %d, want 6", pos)
	}
	all, _, err := s.EvaluatedAlerts(ctx)
	if err != nil || len(all) != 1 || all[0].Armed {
		t.Errorf("EvaluatedAlerts() = %+v, %v; want one disarmed alert", all, err)
	}
	// Paused and deleted alerts do not fire.
	if _, err := s.SetAlertPaused(ctx, ann, a.ID, true); err != nil {
		t.Fatal(err)
	}
	if ins, _ := commit(t, s, 7, []alert.Event{event(a, 90, 12)}, nil); len(ins) != 0 {
		t.Errorf("CommitAlerts(paused alert) inserted %v", ins)
	}
	if err := s.DeleteAlert(ctx, ann, a.ID); err != nil {
		t.Fatal(err)
	}
	if ins, _ := commit(t, s, 8, []alert.Event{event(a, 91, 12)}, nil); len(ins) != 0 {
		t.Errorf("CommitAlerts(deleted alert) inserted %v", ins)
	}
	evs, err := s.AlertEvents(ctx, ann, 0, 100)
	if err != nil || len(evs) != 1 {
		t.Errorf("AlertEvents() = %v, %v; want the one event (kept after the alert's deletion)", evs, err)
	}
}

func testEventsAndOutbox(t *testing.T, s AlertStore) {
	ctx := t.Context()
	ann, bob := userOf(t, s, "ann@example.com"), userOf(t, s, "bob@example.com")
	a := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "AAA", Condition: alert.Below, Threshold: 10, Notify: []string{}, CreatedAt: created})
	b := mustAlert(t, s, alert.Alert{UserID: bob, Symbol: "AAA", Condition: alert.Below, Threshold: 10, Notify: []string{}, CreatedAt: created})
	var ids []int64
	for i := range 5 {
		ins, _ := commit(t, s, uint64(i+1), []alert.Event{event(a, uint64(100+i), 9), event(b, uint64(100+i), 9)}, nil)
		if len(ins) != 2 {
			t.Fatalf("commit %d inserted %d events, want 2", i, len(ins))
		}
		ids = append(ids, ins[0].ID)
	}
	page1, err := s.AlertEvents(ctx, ann, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	page2, err := s.AlertEvents(ctx, ann, page1[len(page1)-1].ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, e := range append(page1, page2...) {
		if e.UserID != ann {
			t.Errorf("AlertEvents(ann) returned bob's event %+v", e)
		}
		got = append(got, e.ID)
	}
	want := []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("AlertEvents(ann) pages, newest first (-want +got):\n%s", diff)
	}
	if e, err := s.AlertEvent(ctx, ids[2]); err != nil || e.ID != ids[2] || e.Seq != 102 {
		t.Errorf("AlertEvent(%d) = %+v, %v", ids[2], e, err)
	}
	if _, err := s.AlertEvent(ctx, 99999); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("AlertEvent(missing) error = %v, want ErrNotFound", err)
	}

	pending, err := s.PendingEvents(ctx, 100)
	if err != nil || len(pending) != 10 {
		t.Fatalf("PendingEvents() = %d events, %v; want 10", len(pending), err)
	}
	if err := s.MarkEventsDispatched(ctx, []int64{pending[0].ID, pending[1].ID, pending[2].ID}); err != nil {
		t.Fatal(err)
	}
	pending2, err := s.PendingEvents(ctx, 100)
	if err != nil || len(pending2) != 7 || pending2[0].ID != pending[3].ID {
		t.Errorf("PendingEvents() after marking 3 = %d events starting %v, %v; want 7 starting %d", len(pending2), pending2, err, pending[3].ID)
	}
}

func testWebhookSecret(t *testing.T, s AlertStore) {
	ctx := t.Context()
	ann := userOf(t, s, "ann@example.com")
	got, err := s.WebhookSecret(ctx, ann, "first")
	if err != nil || got != "first" {
		t.Fatalf("WebhookSecret(first) = %q, %v; want first", got, err)
	}
	if got, err := s.WebhookSecret(ctx, ann, "second"); err != nil || got != "first" {
		t.Errorf("WebhookSecret(second) = %q, %v; want the stored first", got, err)
	}
	if _, err := s.WebhookSecret(ctx, 9999, "x"); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("WebhookSecret(unknown user) error = %v, want ErrNotFound", err)
	}
}

func testReports(t *testing.T, s AlertStore) {
	ctx := t.Context()
	ann, bob := userOf(t, s, "ann@example.com"), userOf(t, s, "bob@example.com")
	r, err := s.CreateReport(ctx, report.Report{UserID: ann, Symbols: []string{"AAA", "B/C"}, Interval: market.Interval1h,
		From: day0, To: day0 + 86_400_000, Format: report.PDF, CreatedAt: created}, 0)
	if err != nil {
		t.Fatalf("CreateReport() error: %v", err)
	}
	ms := created.Truncate(time.Millisecond)
	want := report.Report{ID: r.ID, UserID: ann, Symbols: []string{"AAA", "B/C"}, Interval: market.Interval1h,
		From: day0, To: day0 + 86_400_000, Format: report.PDF, Status: report.Queued, CreatedAt: ms, UpdatedAt: ms}
	if diff := gocmp.Diff(want, r); diff != "" {
		t.Errorf("CreateReport() (-want +got):\n%s", diff)
	}
	if _, err := s.Report(ctx, bob, r.ID); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Report(bob, ann's) error = %v, want ErrNotFound", err)
	}
	later := created.Add(time.Minute)
	if err := s.SetReportStatus(ctx, r.ID, report.Done, "reports/1.pdf", 1234, "", later); err != nil {
		t.Fatal(err)
	}
	want.Status, want.ObjectKey, want.Size, want.UpdatedAt = report.Done, "reports/1.pdf", 1234, later.Truncate(time.Millisecond)
	for _, uid := range []int64{ann, 0} {
		got, err := s.Report(ctx, uid, r.ID)
		if err != nil {
			t.Fatalf("Report(%d) error: %v", uid, err)
		}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("Report(%d) after done (-want +got):\n%s", uid, diff)
		}
	}
	if err := s.SetReportStatus(ctx, 9999, report.Failed, "", 0, "x", later); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("SetReportStatus(missing) error = %v, want ErrNotFound", err)
	}
	r2, err := s.CreateReport(ctx, report.Report{UserID: ann, Symbols: []string{"AAA"}, Interval: market.Interval1m, From: day0, To: day0, Format: report.CSV, CreatedAt: created}, 0)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.Reports(ctx, ann, 0, 10)
	if err != nil || len(list) != 2 || list[0].ID != r2.ID || list[1].ID != r.ID {
		t.Errorf("Reports(ann) = %+v, %v; want [%d %d]", list, err, r2.ID, r.ID)
	}
	if list, err := s.Reports(ctx, ann, r2.ID, 10); err != nil || len(list) != 1 || list[0].ID != r.ID {
		t.Errorf("Reports(ann, before %d) = %+v, %v; want [%d]", r2.ID, list, err, r.ID)
	}
	if list, err := s.Reports(ctx, bob, 0, 10); err != nil || len(list) != 0 {
		t.Errorf("Reports(bob) = %+v, %v; want none", list, err)
	}
}

// testAlertRules: an alert's hysteresis and cooldown are stored, the tick
// time of its last firing is committed with its armed state, and an edit
// replaces the definition (not the symbol) and the position (CreatedSeq,
// not CreatedAt), increments the revision, re-arms it and bumps the
// version; a pause keeps the position (decision 0079).
func testAlertRules(t *testing.T, s AlertStore) {
	ctx := t.Context()
	ann, bob := userOf(t, s, "ann@example.com"), userOf(t, s, "bob@example.com")
	a := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100,
		Hysteresis: 1.5, CooldownS: 60, Notify: []string{}, CreatedAt: created, CreatedSeq: 7})
	if _, ok := commit(t, s, 1, nil, []alert.ArmedChange{{AlertID: a.ID, Armed: false, LastFiredTS: day0 + 5, Revision: 0, CreatedSeq: 7}}); !ok {
		t.Fatal("commit not applied")
	}
	as, v0 := evaluated(t, s)
	if len(as) != 1 || as[0].Hysteresis != 1.5 || as[0].CooldownS != 60 || as[0].Armed || as[0].LastFiredTS != day0+5 {
		t.Fatalf("EvaluatedAlerts = %+v", as)
	}
	if _, err := s.UpdateAlert(ctx, alert.Alert{ID: a.ID, UserID: bob, Condition: alert.Below, Threshold: 1, Notify: []string{}}); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("bob editing ann's alert: %v, want ErrNotFound", err)
	}
	u, err := s.UpdateAlert(ctx, alert.Alert{ID: a.ID, UserID: ann, Symbol: "IGNORED", Condition: alert.Below, Threshold: 90,
		Hysteresis: 0, CooldownS: 600, Notify: []string{"email"}, Paused: true, CreatedAt: created.Add(time.Hour), CreatedSeq: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	want := alert.Alert{ID: a.ID, UserID: ann, Symbol: "BTC-USD", Condition: alert.Below, Threshold: 90, Hysteresis: 0, CooldownS: 600,
		Notify: []string{"email"}, Paused: true, Armed: true, LastFiredTS: day0 + 5, CreatedAt: created.Truncate(time.Millisecond), CreatedSeq: 1 << 40, Revision: 1}
	if diff := gocmp.Diff(want, u); diff != "" {
		t.Errorf("UpdateAlert (-want +got):\n%s", diff)
	}
	as, v := evaluated(t, s)
	if v == v0 {
		t.Error("AlertsVersion() did not change on edit")
	}
	if diff := gocmp.Diff([]alert.Alert{want}, as); diff != "" {
		t.Errorf("EvaluatedAlerts() after the edit (-want +got):\n%s", diff)
	}
	// An armed change evaluated with the definition before the edit
	// (revision 0), committed after it, leaves the edit's re-arm.
	if _, ok := commit(t, s, 2, nil, []alert.ArmedChange{{AlertID: a.ID, Armed: false, LastFiredTS: day0 + 9, Revision: 0, CreatedSeq: 7}}); !ok {
		t.Fatal("commit not applied")
	}
	if as, _ := evaluated(t, s); len(as) != 1 || !as[0].Armed || as[0].LastFiredTS != day0+5 {
		t.Errorf("EvaluatedAlerts() after a commit of the old definition's state = %+v; want the edit's re-arm kept", as)
	}
	// A resume keeps the edit's position.
	if r, err := s.SetAlertPaused(ctx, ann, a.ID, false); err != nil || r.CreatedSeq != 1<<40 {
		t.Errorf("SetAlertPaused(false) = created_seq %d, %v; want %d (the edit's)", r.CreatedSeq, err, uint64(1<<40))
	}
	if as, _ := evaluated(t, s); len(as) != 1 || as[0].CreatedSeq != 1<<40 {
		t.Errorf("EvaluatedAlerts() after a resume = %+v; want created_seq %d (the edit's)", as, uint64(1<<40))
	}
	if _, err := s.UpdateAlert(ctx, alert.Alert{ID: a.ID, UserID: ann, Condition: alert.Below, Threshold: 90, Notify: []string{}, CreatedSeq: 1 << 63}); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("UpdateAlert(CreatedSeq 2^63) error = %v, want ErrInvalid", err)
	}
}

func evaluated(t *testing.T, s AlertStore) ([]alert.Alert, int64) {
	t.Helper()
	as, v, err := s.EvaluatedAlerts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return as, v
}
