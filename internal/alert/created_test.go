package alert_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/alert"
)

// TestAlertCreatedBeforeCrossing is the regression test of issue 16: an
// alert created half a second before a crossing fires on it, although the
// evaluator loads it only after the price is back below (it re-reads
// definitions once per RefreshInterval). With the recent-ticks ring
// disabled — the old behaviour — the same sequence fires nothing.
func TestAlertCreatedBeforeCrossing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		recent int
		fires  int
	}{{"catches up", 0, 1}, {"without the ring (old)", -1, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var now atomic.Int64 // the evaluator's wall clock, moved by hand
			now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
			s := &sink{}
			l := &watchedLog{Log: e.log, handled: e.handled}
			ev := alert.NewEvaluator(l, e.db, e.db, s, nil, alert.Config{
				RefreshInterval: time.Minute, RecentTicks: tc.recent,
				Now: func() time.Time { return time.Unix(0, now.Load()) },
			}, nil, nil)
			done := make(chan error, 1)
			ctx := t.Context()
			go func() { done <- ev.Run(ctx) }()
			t.Cleanup(func() { <-done })

			e.waitHandled(e.prices(99), l) // loaded: no alerts yet
			a := alert.Alert{UserID: e.userID, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100,
				Hysteresis: alert.DefaultHysteresis, CooldownS: alert.DefaultCooldownS,
				CreatedAt: time.UnixMilli(e.ts + 500), Notify: []string{}}
			if _, err := e.db.CreateAlert(t.Context(), a, 10); err != nil {
				t.Fatal(err)
			}
			cross := e.prices(101) // 0.5 s after the alert: evaluated before it is loaded
			crossTS := e.ts
			e.waitHandled(e.prices(99), l)
			if n := len(e.events()); n != 0 {
				t.Fatalf("%d events before the alert was loaded", n)
			}
			now.Add(int64(2 * time.Minute)) // the next message reloads the alerts
			last := e.prices(99.2)
			e.waitHandled(last, l)
			e.waitPosition(e.db, last)
			evs := e.events()
			if len(evs) != tc.fires {
				t.Fatalf("%d events, want %d: %+v", len(evs), tc.fires, evs)
			}
			if tc.fires == 1 && (evs[0].Price != 101 || evs[0].TS != crossTS || len(s.events()) != 1) {
				t.Fatalf("event = %+v (pushed %d), want the crossing at %d (log seq %d)", evs[0], len(s.events()), crossTS, cross)
			}
		})
	}
}

// TestCatchUpFollowsTheLog: the catch-up of a newly loaded alert takes the
// ticks of the messages after its position (Alert.CreatedSeq), whatever
// their timestamps. Here the feed's timestamps run ahead of the server's
// clock: a crossing already in the log when the alert is created is
// stamped after its created_at. Before, the catch-up took every recent
// tick stamped at or after created_at and fired on it too (2 events: at
// 101, message 2, below the alert's position 3, and at 102); the crossing
// after the creation fires, once.
func TestCatchUpFollowsTheLog(t *testing.T) {
	e := newEnv(t)
	now, l := e.clockedEvaluator()

	e.waitHandled(e.prices(99), l) // loaded: no alerts yet
	created := e.ts                // the server's clock, behind the feed's
	before := e.prices(101)        // stamped after created, logged before the alert
	head := e.prices(99)
	a := alert.Alert{UserID: e.userID, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100,
		Hysteresis: alert.DefaultHysteresis, CooldownS: 0, Notify: []string{},
		CreatedAt: time.UnixMilli(created), CreatedSeq: head}
	if _, err := e.db.CreateAlert(t.Context(), a, 10); err != nil {
		t.Fatal(err)
	}
	after := e.prices(102) // after the creation, before the alert is loaded
	e.waitHandled(after, l)
	now.Add(int64(2 * time.Minute)) // the next message reloads the alerts
	last := e.prices(99.2)
	e.waitHandled(last, l)
	e.waitPosition(e.db, last)
	evs := e.events()
	if len(evs) != 1 || evs[0].Price != 102 || evs[0].Seq>>16 != after {
		t.Fatalf("events = %+v; want one, the crossing at 102 (message %d) after the alert's position %d, not the one at 101 (message %d)",
			evs, after, head, before)
	}
}
