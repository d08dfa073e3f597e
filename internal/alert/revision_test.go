package alert_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/market"
)

// clocked is an evaluator running on a restartRig's log, with a clock
// that moves a microsecond a reading (every message is committed: the
// FlushInterval is a nanosecond) and otherwise only when the test moves
// it: the evaluator re-reads the alerts at a message handled after now
// has moved a minute, or after a commit found a firing stale.
type clocked struct {
	r   *restartRig
	now atomic.Int64 // ns since epoch
	reg *prometheus.Registry
}

// runClocked starts an evaluator on r's log and st until t ends.
func runClocked(t *testing.T, r *restartRig, st alert.Store) *clocked {
	c := &clocked{r: r, reg: prometheus.NewPedanticRegistry()}
	c.now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	ev := alert.NewEvaluator(&watchedLog{Log: r.b, handled: r.handled}, nil, st, nil, nil, alert.Config{
		RefreshInterval: time.Minute, FlushInterval: time.Nanosecond,
		Now: func() time.Time { return time.Unix(0, c.now.Add(int64(time.Microsecond))) },
	}, nil, c.reg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ev.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// stale is findash_alert_stale_firings_total.
func (c *clocked) stale(t *testing.T) float64 {
	t.Helper()
	mfs, err := c.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "findash_alert_stale_firings_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("findash_alert_stale_firings_total is not registered")
	return 0
}

// wait waits until the stored position reaches last.
func (c *clocked) wait(t *testing.T, last uint64) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if pos, err := c.r.db.AlertPosition(t.Context(), market.Unpartitioned); err == nil && pos >= last {
			return
		}
		select {
		case <-c.r.handled:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("alert position not at %d after 60s", last)
		}
	}
}

// TestEditBeforeTheReloadRecordsNoOldFiring: a running evaluator holds an
// alert above 200; the alert is edited to above 100 (the log's head at
// the edit as its position, what the API does), and a tick at 250 comes
// before the evaluator re-reads the alerts. The evaluator still fires the
// old definition on it, but its commit comes after the edit's and records
// nothing (findash_alert_stale_firings_total counts it); the next message
// reloads the alerts, and the edited alert's catch-up fires on the same
// tick, at threshold 100. Before decision 0081 the event was recorded with
// the old threshold, 200, and the new definition's firing on the same
// (alert_id, seq) was then not recorded.
func TestEditBeforeTheReloadRecordsNoOldFiring(t *testing.T) {
	eachStore(t, func(t *testing.T, db restartStore) {
		r := newRestartRig(t, db)
		ctx := t.Context()
		a, err := db.CreateAlert(ctx, alert.Alert{UserID: r.userID, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 200,
			Hysteresis: alert.DefaultHysteresis, CooldownS: 0, Notify: []string{},
			CreatedAt: time.UnixMilli(r.ts + 500), CreatedSeq: r.price(99)}, 10)
		if err != nil {
			t.Fatal(err)
		}
		c := runClocked(t, r, db)
		c.wait(t, r.price(150))                   // the alert is loaded, and evaluated on 150
		a.Threshold, a.CreatedSeq = 100, r.head() // the edit
		if _, err := db.UpdateAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
		crossing := r.price(250) // both definitions fire; the evaluator holds the old one
		c.wait(t, crossing)
		if evs := r.events(); len(evs) != 0 {
			t.Fatalf("events after the edit was committed, before the reload = %+v; want none (the old definition's firing is stale)", evs)
		}
		c.wait(t, r.price(99)) // reloads: the edited alert catches up
		if evs := r.events(); len(evs) != 1 || evs[0].Threshold != 100 || evs[0].Price != 250 || evs[0].Seq>>16 != crossing {
			t.Fatalf("events = %+v; want one, the edited alert's (threshold 100) on the tick at 250 (message %d)", evs, crossing)
		}
		if n := c.stale(t); n != 1 {
			t.Errorf("findash_alert_stale_firings_total = %v, want 1", n)
		}
	})
}

// TestEditAtTheSameHeadKeepsTheRearm: a running evaluator holds an alert
// above 200; the alert is edited to above 260 (hysteresis 10 %: it re-arms
// below 234) while the log's head is still the alert's position, so the
// edit does not move it (created_seq). A tick at 270 comes before the
// evaluator re-reads the alerts: the old definition fires and disarms the
// alert, and the commit comes after the edit's. Neither is applied — the
// revision tells the two definitions apart where the position cannot — so
// the edited alert stays armed, and at the reload (the next message, a
// tick at 250) its catch-up fires on 270 at threshold 260. Had the old
// definition's disarming been applied (the created_seq guard of decision
// 0079 let it through), the edited alert would stay disarmed through 270
// and 250 and never fire; had its firing been recorded, the event would
// carry threshold 200.
func TestEditAtTheSameHeadKeepsTheRearm(t *testing.T) {
	eachStore(t, func(t *testing.T, db restartStore) {
		r := newRestartRig(t, db)
		ctx := t.Context()
		head := r.price(99)
		a, err := db.CreateAlert(ctx, alert.Alert{UserID: r.userID, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 200,
			Hysteresis: alert.DefaultHysteresis, CooldownS: 0, Notify: []string{},
			CreatedAt: time.UnixMilli(r.ts + 500), CreatedSeq: head}, 10)
		if err != nil {
			t.Fatal(err)
		}
		c := runClocked(t, r, db)
		c.wait(t, head) // the alert is loaded
		a.Threshold, a.Hysteresis, a.CreatedSeq = 260, 10, r.head()
		if a.CreatedSeq != head {
			t.Fatalf("the log's head moved to %d; want %d, the alert's position", a.CreatedSeq, head)
		}
		if _, err := db.UpdateAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
		crossing := r.price(270)
		c.wait(t, crossing)
		as, _, err := db.EvaluatedAlerts(ctx)
		if err != nil || len(as) != 1 || !as[0].Armed || as[0].Revision != 1 {
			t.Fatalf("after the old definition's commit, EvaluatedAlerts() = %+v, %v; want the edited alert (revision 1) still armed", as, err)
		}
		c.wait(t, r.price(250)) // reloads: the edited alert catches up
		evs := r.events()
		if len(evs) != 1 || evs[0].Threshold != 260 || evs[0].Price != 270 || evs[0].Seq>>16 != crossing {
			t.Fatalf("events = %+v; want one, the edited alert's (threshold 260) on the tick at 270 (message %d)", evs, crossing)
		}
		// The edited definition's disarming, evaluated with the revision and
		// the position it was loaded with, is stored (both guard it).
		as, _, err = db.EvaluatedAlerts(ctx)
		if err != nil || len(as) != 1 || as[0].Armed || as[0].LastFiredTS != evs[0].TS {
			t.Fatalf("after the edited definition's commit, EvaluatedAlerts() = %+v, %v; want it disarmed, last fired at %d", as, err, evs[0].TS)
		}
		if n := c.stale(t); n != 1 {
			t.Errorf("findash_alert_stale_firings_total = %v, want 1", n)
		}
	})
}
