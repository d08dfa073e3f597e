package storetest

import (
	"fmt"
	"testing"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/market"
)

// testAlertRevision: every edit of an alert's definition increments its
// revision, a pause or resume does not; CommitAlerts records a firing and
// applies an armed change only while the alert still has the revision
// they carry (decision 0081). The edit here leaves the position where it
// was (the log's head had not moved since the creation), the case the
// created_seq guard of decision 0079 could not see: the old definition's
// firing and disarming, committed after the edit, are dropped — the
// firing returned as stale — while the rest of the commit (another
// alert's firing, the position) is applied.
func testAlertRevision(t *testing.T, s AlertStore) {
	ctx := t.Context()
	ann := userOf(t, s, "ann@example.com")
	a := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100,
		Hysteresis: 1, CooldownS: 60, Notify: []string{}, CreatedAt: created, CreatedSeq: 7})
	b := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 120,
		Notify: []string{}, CreatedAt: created, CreatedSeq: 7})
	if a.Revision != 0 {
		t.Errorf("CreateAlert() revision = %d, want 0", a.Revision)
	}
	for _, paused := range []bool{true, false} {
		if p, err := s.SetAlertPaused(ctx, ann, a.ID, paused); err != nil || p.Revision != 0 {
			t.Errorf("SetAlertPaused(%v) = revision %d, %v; want 0 (a pause is not an edit)", paused, p.Revision, err)
		}
	}
	old := a
	a.Threshold = 200 // the edit; the log's head is still 7
	u, err := s.UpdateAlert(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if u.Revision != 1 || u.CreatedSeq != 7 || !u.Armed {
		t.Fatalf("UpdateAlert() = revision %d, created_seq %d, armed %v; want 1, 7 (unchanged), true", u.Revision, u.CreatedSeq, u.Armed)
	}

	// The old definition fired on a message appended after the edit read
	// the head, and its commit comes after the edit's.
	ins, stale, ok, err := s.CommitAlerts(ctx, market.Unpartitioned, 0, 8,
		[]alert.Event{event(old, 8, 150), event(b, 8, 150)}, []alert.ArmedChange{{AlertID: a.ID, Armed: false, LastFiredTS: day0 + 8, Revision: 0, CreatedSeq: 7}})
	if err != nil || !ok {
		t.Fatalf("CommitAlerts(8) = applied %v, %v; want applied", ok, err)
	}
	if len(ins) != 1 || ins[0].AlertID != b.ID {
		t.Errorf("CommitAlerts(8) inserted %+v; want only the unedited alert's firing", ins)
	}
	if len(stale) != 1 || stale[0].AlertID != a.ID || stale[0].Seq != 8 || stale[0].Threshold != 100 || stale[0].Revision != 0 {
		t.Errorf("CommitAlerts(8) stale = %+v; want the old definition's firing (threshold 100, revision 0)", stale)
	}
	if pos, err := s.AlertPosition(ctx, market.Unpartitioned); err != nil || pos != 8 {
		t.Errorf("AlertPosition() after a stale firing = %d, %v; want 8", pos, err)
	}
	if as, _ := evaluated(t, s); len(as) != 2 || !as[0].Armed || as[0].LastFiredTS != 0 || as[0].Revision != 1 {
		t.Errorf("EvaluatedAlerts() after the old definition's commit = %+v; want the edit's re-arm kept, revision 1", as)
	}

	// The edited definition's firing and disarming apply.
	now := event(u, 9, 210)
	now.Revision = 1
	ins, stale, ok, err = s.CommitAlerts(ctx, market.Unpartitioned, 8, 9,
		[]alert.Event{now}, []alert.ArmedChange{{AlertID: a.ID, Armed: false, LastFiredTS: day0 + 9, Revision: 1, CreatedSeq: 7}})
	if err != nil || !ok || len(ins) != 1 || len(stale) != 0 || ins[0].Threshold != 200 {
		t.Errorf("CommitAlerts(9) = inserted %+v, stale %+v, %v, %v; want the firing at 200 inserted", ins, stale, ok, err)
	}
	if as, _ := evaluated(t, s); len(as) != 2 || as[0].Armed || as[0].LastFiredTS != day0+9 {
		t.Errorf("EvaluatedAlerts() after the edited definition's commit = %+v; want disarmed at %d", as, day0+9)
	}

	// A paused alert's firing of its own revision and a deleted alert's
	// firing are skipped, not stale.
	if _, err := s.SetAlertPaused(ctx, ann, a.ID, true); err != nil {
		t.Fatal(err)
	}
	again := event(u, 10, 220)
	again.Revision = 1
	if err := s.DeleteAlert(ctx, ann, b.ID); err != nil {
		t.Fatal(err)
	}
	ins, stale, ok, err = s.CommitAlerts(ctx, market.Unpartitioned, 9, 10, []alert.Event{again, event(b, 10, 220)}, nil)
	if err != nil || !ok || len(ins) != 0 || len(stale) != 0 {
		t.Errorf("CommitAlerts(paused, deleted) = inserted %+v, stale %+v, %v, %v; want neither", ins, stale, ok, err)
	}
	evs, err := s.AlertEvents(ctx, ann, 0, 10)
	if err != nil || len(evs) != 2 || evs[0].Threshold != 200 || evs[1].AlertID != b.ID {
		t.Errorf("AlertEvents() = %+v, %v; want the edited definition's firing and the other alert's, none at the old threshold", evs, err)
	}
}

// RunAlertOldEdit checks, on s, that an edit made by an instance of the
// previous version during a rolling update still keeps its re-arm from
// an armed change the evaluator evaluated before it. Such an edit moves
// created_seq and re-arms the alert but leaves the revision as it was
// (the previous version does not know the column), so only the
// created_seq guard of decision 0079, kept beside the revision (decision
// 0081), tells the two definitions apart. exec runs a statement on s's
// database, as the previous version's UpdateAlert did.
func RunAlertOldEdit(t *testing.T, s AlertStore, exec func(t *testing.T, stmt string)) {
	ann := userOf(t, s, "ann@example.com")
	a := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100,
		Notify: []string{}, CreatedAt: created, CreatedSeq: 7})
	// The evaluator loaded the alert (revision 0, created_seq 7) and
	// evaluated a firing that disarms it; before its commit, an instance of
	// the previous version edits the alert at the log's head, 9.
	exec(t, fmt.Sprintf("UPDATE alerts SET threshold = 200, armed = TRUE, created_seq = 9 WHERE id = %d", a.ID))
	exec(t, "UPDATE alert_version SET version = version + 1 WHERE id = 1")
	if _, ok := commit(t, s, 10, nil, []alert.ArmedChange{{AlertID: a.ID, Armed: false, LastFiredTS: day0 + 8, Revision: 0, CreatedSeq: 7}}); !ok {
		t.Fatal("commit not applied")
	}
	as, _ := evaluated(t, s)
	if len(as) != 1 || !as[0].Armed || as[0].LastFiredTS != 0 || as[0].Revision != 0 || as[0].CreatedSeq != 9 {
		t.Fatalf("EvaluatedAlerts() after the old definition's commit = %+v; want the old-style edit's re-arm kept (revision 0, created_seq 9)", as)
	}
	// A change evaluated with the edited definition applies.
	if _, ok := commit(t, s, 11, nil, []alert.ArmedChange{{AlertID: a.ID, Armed: false, LastFiredTS: day0 + 11, Revision: 0, CreatedSeq: 9}}); !ok {
		t.Fatal("commit not applied")
	}
	if as, _ := evaluated(t, s); len(as) != 1 || as[0].Armed || as[0].LastFiredTS != day0+11 {
		t.Errorf("EvaluatedAlerts() after the edited definition's commit = %+v; want disarmed at %d", as, day0+11)
	}
}
