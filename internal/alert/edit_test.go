package alert_test

import (
	"testing"
	"time"

	"github.com/findash/findash/internal/alert"
)

// TestRestartSkipsTicksBeforeEdit: an alert above 200 is created, then a
// tick at 150 comes; the alert is edited to above 100 (the log's head at
// the edit as its position, what the API does), then ticks at 99 and 102
// come, all while the evaluator is down with its stored position before
// the creation. The restarted evaluator records the crossing at 102 only.
// Before decision 0079 the edit kept the creation's position, and the new
// definition fired on the tick at 150 too, which came before the edit (2
// events: 150, then 102 after the 99 re-armed it).
func TestRestartSkipsTicksBeforeEdit(t *testing.T) {
	eachStore(t, func(t *testing.T, db restartStore) {
		r := newRestartRig(t, db)
		r.run(r.price(99)) // the stored position: before everything below
		a, err := db.CreateAlert(t.Context(), alert.Alert{UserID: r.userID, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 200,
			Hysteresis: alert.DefaultHysteresis, CooldownS: 0, Notify: []string{},
			CreatedAt: time.UnixMilli(r.ts + 500), CreatedSeq: r.head()}, 10)
		if err != nil {
			t.Fatal(err)
		}
		before := r.price(150) // above the edited threshold, before the edit
		a.Threshold, a.CreatedSeq = 100, r.head()
		if _, err := db.UpdateAlert(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		r.price(99)
		after := r.price(102) // a crossing after the edit, the evaluator still down
		r.run(r.price(99.2))

		if evs := r.events(); len(evs) != 1 || evs[0].Price != 102 || evs[0].Seq>>16 != after {
			t.Fatalf("events after the restart = %+v; want one, the crossing at 102 (message %d) after the edit (message %d), not the tick at 150 (message %d) before it",
				evs, after, a.CreatedSeq, before)
		}
	})
}

// TestRunningEvaluatorStartsAtTheEdit: a running evaluator has loaded an
// alert above 200 and evaluated a tick at 150 with it; the alert is edited
// to above 100, and a tick at 102 comes before the evaluator reloads the
// alerts. At the reload the evaluator places the edited alert as a new one
// (its CreatedSeq moved) and its catch-up fires on the tick at 102 — after
// the edit — not on the one at 150 before it. Had it kept the alert's
// first message, as for an alert it already evaluates, the crossing at 102
// would be lost (no event).
func TestRunningEvaluatorStartsAtTheEdit(t *testing.T) {
	e := newEnv(t)
	now, l := e.clockedEvaluator()

	head := e.prices(99)
	e.waitHandled(head, l) // loaded: no alerts yet
	a, err := e.db.CreateAlert(t.Context(), alert.Alert{UserID: e.userID, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 200,
		Hysteresis: alert.DefaultHysteresis, CooldownS: 0, Notify: []string{},
		CreatedAt: time.UnixMilli(e.ts + 500), CreatedSeq: head}, 10)
	if err != nil {
		t.Fatal(err)
	}
	now.Add(int64(2 * time.Minute)) // the next message loads the alert
	before := e.prices(150)
	e.waitHandled(before, l)
	a.Threshold, a.CreatedSeq = 100, before // the log's head at the edit
	if _, err := e.db.UpdateAlert(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	after := e.prices(102) // evaluated before the reload, with the old definition
	e.waitHandled(after, l)
	if n := len(e.events()); n != 0 {
		t.Fatalf("%d events before the edited alert was loaded", n)
	}
	now.Add(int64(2 * time.Minute)) // the next message reloads the alerts
	last := e.prices(99.2)
	e.waitHandled(last, l)
	e.waitPosition(e.db, last)
	if evs := e.events(); len(evs) != 1 || evs[0].Price != 102 || evs[0].Seq>>16 != after {
		t.Fatalf("events = %+v; want one, the crossing at 102 (message %d) after the edit (message %d), not the tick at 150 before it",
			evs, after, before)
	}
}
