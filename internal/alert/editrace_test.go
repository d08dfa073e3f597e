package alert_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/market"
)

// gatedStore holds the evaluator's next commit of a firing until the test
// releases it: the test edits the alert in between.
type gatedStore struct {
	restartStore
	hold    atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func (s *gatedStore) CommitAlerts(ctx context.Context, part int, prevSeq, logSeq uint64, fired []alert.Event, armed []alert.ArmedChange) ([]alert.Event, []alert.Event, bool, error) {
	if len(fired) > 0 && s.hold.CompareAndSwap(true, false) {
		s.held <- struct{}{}
		<-s.release
	}
	return s.restartStore.CommitAlerts(ctx, part, prevSeq, logSeq, fired, armed)
}

// TestEditDuringCommitKeepsTheRearm: an alert above 100 fires on a tick at
// 150; before the evaluator commits that firing (and the alert's disarming),
// the alert is edited to above 140, which re-arms it. The commit must not
// undo the edit's re-arm: the edited alert starts as a new one (decision
// 0079), so the next tick, at 145, after the edit, fires it. When the
// commit writes the old definition's armed state over the edit's, the
// edited alert stays disarmed and the crossing at 145 is lost. The held
// firing at 150 itself is not recorded either: its commit comes after the
// edit's, and nothing the old definition evaluated is recorded after an
// edit (decision 0081; before it, the event at 150 was recorded with the
// old threshold, 100).
func TestEditDuringCommitKeepsTheRearm(t *testing.T) {
	eachStore(t, func(t *testing.T, db restartStore) {
		r := newRestartRig(t, db)
		ctx := t.Context()
		a, err := db.CreateAlert(ctx, alert.Alert{UserID: r.userID, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100,
			Hysteresis: alert.DefaultHysteresis, CooldownS: 0, Notify: []string{},
			CreatedAt: time.UnixMilli(r.ts + 500), CreatedSeq: r.price(99)}, 10)
		if err != nil {
			t.Fatal(err)
		}
		gs := &gatedStore{restartStore: db, held: make(chan struct{}), release: make(chan struct{})}
		var now atomic.Int64
		now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		log := &watchedLog{Log: r.b, handled: r.handled}
		ev := alert.NewEvaluator(log, nil, gs, nil, nil, alert.Config{
			RefreshInterval: time.Minute, FlushInterval: time.Nanosecond,
			Now: func() time.Time { return time.Unix(0, now.Load()) },
		}, nil, nil)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- ev.Run(rctx) }()
		defer func() { cancel(); <-done }()
		wait := func(last uint64) {
			t.Helper()
			deadline := time.After(60 * time.Second)
			for {
				if pos, err := db.AlertPosition(ctx, market.Unpartitioned); err == nil && pos >= last {
					return
				}
				select {
				case <-r.handled:
				case <-time.After(10 * time.Millisecond):
				case <-deadline:
					t.Fatalf("alert position not at %d after 60s", last)
				}
			}
		}
		wait(a.CreatedSeq)

		gs.hold.Store(true)
		fired := r.price(150) // the old definition fires; its commit is held
		select {
		case <-gs.held:
		case <-time.After(60 * time.Second):
			t.Fatal("no commit of the firing at 150")
		}
		a.Threshold, a.CreatedSeq = 140, r.head() // the edit, what the API does
		if _, err := db.UpdateAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
		close(gs.release)
		wait(fired)
		as, _, err := db.EvaluatedAlerts(ctx)
		if err != nil || len(as) != 1 || !as[0].Armed {
			t.Errorf("after the held commit, EvaluatedAlerts() = %+v, %v; want the edited alert armed", as, err)
		}
		now.Add(int64(2 * time.Minute)) // the next message reloads the alerts
		after := r.price(145)
		wait(after)
		if evs := r.events(); len(evs) != 1 || evs[0].Price != 145 || evs[0].Seq>>16 != after || evs[0].Threshold != 140 {
			t.Fatalf("events = %+v; want one: the crossing at 145 (message %d) of the edited alert, after the edit, not the old definition's firing at 150 (message %d), committed after the edit", evs, after, fired)
		}
	})
}
