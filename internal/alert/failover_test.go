package alert_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/testenv"
)

// cluster is a primary and its asynchronous standby, both real SQLite
// stores. stopReplication copies the primary as it is into the standby
// (VACUUM INTO: users, alerts, armed states, events, positions, the id
// counters); what the primary commits after that the standby never gets.
// promote then moves the evaluator and the API's writes to the standby —
// a failover to a standby that had not received the last commits, as
// PostgreSQL's multi-host URL makes it between two calls (decision 0050).
type cluster struct {
	primary  *sqlite.DB
	path     string // the primary's file
	mu       sync.Mutex
	standby  *sqlite.DB
	promoted atomic.Bool
}

func (c *cluster) stopReplication(t *testing.T) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "standby.db")
	raw, err := sql.Open("sqlite", c.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(t.Context(), "VACUUM INTO ?", dst); err != nil {
		t.Fatalf("copy the primary into the standby: %v", err)
	}
	c.mu.Lock()
	c.standby = openDB(t, dst)
	c.mu.Unlock()
}

func (c *cluster) promote() { c.promoted.Store(true) }

func (c *cluster) current() *sqlite.DB {
	if c.promoted.Load() {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.standby
	}
	return c.primary
}

func (c *cluster) AlertPosition(ctx context.Context, part int) (uint64, error) {
	return c.current().AlertPosition(ctx, part)
}

func (c *cluster) AlertsVersion(ctx context.Context) (int64, error) {
	return c.current().AlertsVersion(ctx)
}

func (c *cluster) EvaluatedAlerts(ctx context.Context) ([]alert.Alert, int64, error) {
	return c.current().EvaluatedAlerts(ctx)
}

func (c *cluster) CommitAlerts(ctx context.Context, part int, prevSeq, logSeq uint64, fired []alert.Event, armed []alert.ArmedChange) ([]alert.Event, []alert.Event, bool, error) {
	return c.current().CommitAlerts(ctx, part, prevSeq, logSeq, fired, armed)
}

func (c *cluster) PendingEvents(ctx context.Context, limit int) ([]alert.Event, error) {
	return c.current().PendingEvents(ctx, limit)
}

func (c *cluster) MarkEventsDispatched(ctx context.Context, ids []int64) error {
	return c.current().MarkEventsDispatched(ctx, ids)
}

func (c *cluster) RestoreState(ctx context.Context) ([]market.Candle, market.Positions, error) {
	return c.current().RestoreState(ctx)
}

// clusterEvaluator runs an evaluator on c until the returned stop is
// called; log tells which messages it has handled.
func (e *env) clusterEvaluator(c *cluster, s alert.Sink, cfg alert.Config, reg prometheus.Registerer) (stop func(), log *watchedLog) {
	log = &watchedLog{Log: e.log, handled: e.handled}
	cfg.RefreshInterval = time.Millisecond // every message looks for new alerts
	ev := alert.NewEvaluator(log, c, c, s, e.queue, cfg, nil, reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ev.Run(ctx) }()
	return sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("evaluator Run() error: %v", err)
		}
	}), log
}

// above100 creates, on db, an alert on symbol above 100 (band 0.1 %, the
// default 5-minute cooldown) for e's user.
func (e *env) above100(db *sqlite.DB, symbol string) alert.Alert {
	e.t.Helper()
	return e.above100At(db, symbol, time.Now())
}

// above100At is above100 with the alert's CreatedAt.
func (e *env) above100At(db *sqlite.DB, symbol string, created time.Time) alert.Alert {
	e.t.Helper()
	a := alert.Alert{UserID: e.userID, Symbol: symbol, Condition: alert.Above, Threshold: 100,
		Notify: []string{}, CreatedAt: created, Hysteresis: 0.1}
	if err := alert.Validate(&a); err != nil {
		e.t.Fatal(err)
	}
	a, err := db.CreateAlert(e.t.Context(), a, 10)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// checkFiredOnce checks that db holds exactly one firing, alert a's at 101
// on the tick stamped ts, and that s was pushed that firing only.
func (e *env) checkFiredOnce(db *sqlite.DB, a alert.Alert, ts int64, s *sink) {
	e.t.Helper()
	evs, err := db.AlertEvents(e.t.Context(), e.userID, 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].AlertID != a.ID || evs[0].TS != ts || evs[0].Price != 101 {
		e.t.Fatalf("events on the new primary = %+v; want one: alert %d at 101, ts %d", evs, a.ID, ts)
	}
	for _, p := range s.events() {
		if p.AlertID != a.ID || p.Seq != evs[0].Seq {
			e.t.Errorf("pushed %+v; want only alert %d's firing at seq %d", p, a.ID, evs[0].Seq)
		}
	}
}

// TestAlertRewindAfterIdleFailover: an alert fires on the primary, which
// fails over to a standby that lacks that commit (the firing, the alert
// disarmed, the position) while the evaluator is idle, so no call of its
// fails. Its next commit must find the stored position behind what it
// committed and evaluate the log again from the stored position: the
// firing is recorded on the new primary, once, and the alert stays
// disarmed there. Before, the evaluator committed after the gap: the
// firing was missing for good, and the alert, armed again on the new
// primary, fired a second time within its cooldown as soon as the
// evaluator re-read the alerts (a new alert created).
func TestAlertRewindAfterIdleFailover(t *testing.T) {
	e := newEnv(t)
	a := e.above100(e.db, "BTC-USD")
	c := &cluster{primary: e.db, path: filepath.Join(e.dir, "findash.db")}
	s := &sink{}
	reg := prometheus.NewRegistry()
	stop, log := e.clusterEvaluator(c, s, alert.Config{FlushInterval: time.Nanosecond}, reg) // commits every message
	defer stop()

	e.waitHandled(e.prices(99), log)
	c.stopReplication(t)
	e.waitHandled(e.prices(101), log) // fires on the primary only
	fired := e.ts
	c.promote() // the evaluator is idle: no call fails
	e.waitHandled(e.prices(101.5, 100.5), log)
	e.above100(c.standby, "ETH-USD") // another alert: the evaluator re-reads the alerts
	last := e.prices(102)
	e.waitHandled(last, log)
	stop()

	if pos, err := c.standby.AlertPosition(t.Context(), market.Unpartitioned); err != nil || pos != last {
		t.Errorf("position on the new primary = %d, %v; want %d", pos, err, last)
	}
	e.checkFiredOnce(c.standby, a, fired, s)
	if n := len(s.events()); n != 1 {
		t.Errorf("pushed %d alerts, want 1 (the firing re-recorded on the new primary is not pushed again)", n)
	}
	if got := testenv.Counter(t, reg, "findash_alert_rewinds_total"); got != 1 {
		t.Errorf("findash_alert_rewinds_total = %v, want 1", got)
	}
}

// TestAlertRewindOnFinalCommit: the primary fails over while the evaluator
// holds a message it has not committed, and the instance is stopped
// (SIGTERM, a partition handed to another worker): its final commit
// reaches the promoted standby, which lacks its last commit. That commit
// must be refused, so the next evaluator starts from the stored position
// and records the lost firing. Before, the final commit recorded its
// position after the gap and the next evaluator started after it: the
// firing was lost, and the alert, armed on the new primary, fired again
// within its cooldown.
func TestAlertRewindOnFinalCommit(t *testing.T) {
	e := newEnv(t)
	a := e.above100(e.db, "BTC-USD")
	c := &cluster{primary: e.db, path: filepath.Join(e.dir, "findash.db")}
	reg := prometheus.NewRegistry()
	cfg := alert.Config{FlushInterval: time.Hour} // the first message and firings are committed at once, others held
	stop, log := e.clusterEvaluator(c, &sink{}, cfg, reg)
	defer stop()

	e.waitHandled(e.prices(99), log)
	c.stopReplication(t)
	e.waitHandled(e.prices(101), log) // fires on the primary only
	fired := e.ts
	c.promote()
	e.waitHandled(e.prices(100.5), log) // held
	stop()
	if got := testenv.Counter(t, reg, "findash_alert_rewinds_total"); got != 1 {
		t.Errorf("findash_alert_rewinds_total = %v, want 1 (the final commit found the position behind)", got)
	}

	// The next evaluator starts on the promoted standby.
	s := &sink{}
	stop, log = e.clusterEvaluator(c, s, cfg, nil)
	defer stop()
	last := e.prices(102)
	e.waitHandled(last, log)
	stop()
	e.checkFiredOnce(c.standby, a, fired, s)
}

// handOff is a Sink that, at each push, lets the test act before the
// evaluator goes on to enqueue the firing's notifications.
type handOff struct {
	pushed chan alert.Event
	resume chan struct{}
}

func (h *handOff) PublishAlert(_ int64, data any) {
	h.pushed <- data.(alert.Event)
	<-h.resume
}

// TestAlertOutboxAfterFailover: the standby is cut while the sink holds the
// evaluator between a firing's commit and its enqueue, then promoted. The
// new primary holds the event undispatched, and nothing is behind, so
// nothing rewinds; the log then goes quiet (a night, a weekend, a feed that
// stopped). The evaluator's next sweep, driven by its own ticker, still
// enqueues it. Before 4c7b379 the event waited for the next start; before
// the ticker, for the next message (REVIEW-1 finding 2).
func TestAlertOutboxAfterFailover(t *testing.T) {
	e := newEnv(t)
	e.above100(e.db, "BTC-USD")
	c := &cluster{primary: e.db, path: filepath.Join(e.dir, "findash.db")}
	h := &handOff{pushed: make(chan alert.Event), resume: make(chan struct{})}
	sweeps := make(chan time.Time) // the sweep's ticker, driven by hand
	stop, log := e.clusterEvaluator(c, h, alert.Config{FlushInterval: time.Nanosecond,
		Ticker: func(time.Duration) (<-chan time.Time, func()) { return sweeps, func() {} }}, prometheus.NewRegistry())
	defer stop()
	resume := sync.OnceFunc(func() { close(h.resume) })
	defer resume() // before stop, should the test end early

	e.waitHandled(e.prices(99), log)
	fired := e.prices(101)
	select {
	case <-h.pushed: // committed, not yet enqueued
	case <-time.After(60 * time.Second):
		t.Fatal("no firing pushed after 60s")
	}
	c.stopReplication(t)
	resume()
	e.waitHandled(fired, log) // enqueued and marked on the primary only
	c.promote()
	if p, err := c.standby.PendingEvents(t.Context(), 10); err != nil || len(p) != 1 {
		t.Fatalf("PendingEvents() on the promoted standby = %+v, %v; want the firing", p, err)
	}
	select {
	case sweeps <- time.Now(): // a sweep period passes; no message arrives
	case <-time.After(10 * time.Second):
		t.Fatal("the evaluator took no sweep tick within 10 s")
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		p, err := c.standby.PendingEvents(t.Context(), 10)
		return err == nil && len(p) == 0
	}, "the pending event dispatched on the new primary after a sweep period, with no message since the promotion")
}

// TestAlertRewindSkipsTicksBeforeItsCreation: a crossing is committed on
// the primary only, with no alert on it; after the failover an alert is
// created on the new primary, and the evaluator's next commit rewinds to
// the stored position, before the crossing. The pass after the rewind
// must not evaluate the new alert on that crossing, which came before the
// alert existed: it fires once, on the crossing after its creation.
// Before, the rewound pass loaded every alert and evaluated each on every
// message from the stored position: the alert fired on the old crossing
// too, an event dated before the alert was created.
func TestAlertRewindSkipsTicksBeforeItsCreation(t *testing.T) {
	e := newEnv(t)
	c := &cluster{primary: e.db, path: filepath.Join(e.dir, "findash.db")}
	s := &sink{}
	reg := prometheus.NewRegistry()
	stop, log := e.clusterEvaluator(c, s, alert.Config{FlushInterval: time.Nanosecond}, reg) // commits every message
	defer stop()

	e.waitHandled(e.prices(99), log)
	c.stopReplication(t)
	e.waitHandled(e.prices(101, 99), log) // a crossing no alert watches, committed on the primary only
	c.promote()
	a := e.above100(c.standby, "BTC-USD")
	e.waitHandled(e.prices(99.5), log) // its commit finds the new primary behind: rewind
	last := e.prices(101)
	fired := e.ts
	e.waitHandled(last, log)
	stop()

	if got := testenv.Counter(t, reg, "findash_alert_rewinds_total"); got != 1 {
		t.Errorf("findash_alert_rewinds_total = %v, want 1", got)
	}
	e.checkFiredOnce(c.standby, a, fired, s)
}

// TestAlertRewindSkipsTicksBeforeItsCreationUnderAReusedID: as above, but
// an alert is also created on the old primary after its last replicated
// commit; the failover loses it, and the promoted standby gives its ID to
// the new alert. The rewound pass must not take the lost alert's first
// message for the new one. Before, the start was keyed by ID only: the new
// alert was evaluated from the lost alert's start and fired on the old
// crossing too (REVIEW-A F1). The new alert is created a millisecond after
// the lost one at least: both have no CreatedSeq, so their creation time
// (ms precision) alone tells them apart, and time.Now() read twice within
// a millisecond made them one alert to the evaluator (the test failed so
// about one run in ten, not a defect of the evaluator: an alert created
// since migration 00010 also has its log position).
func TestAlertRewindSkipsTicksBeforeItsCreationUnderAReusedID(t *testing.T) {
	e := newEnv(t)
	c := &cluster{primary: e.db, path: filepath.Join(e.dir, "findash.db")}
	s := &sink{}
	reg := prometheus.NewRegistry()
	stop, log := e.clusterEvaluator(c, s, alert.Config{FlushInterval: time.Nanosecond}, reg)
	defer stop()

	e.waitHandled(e.prices(99), log)
	c.stopReplication(t)
	lost := e.above100(c.primary, "ETH-USD") // on the old primary only; no ETH ticks, never fires
	e.waitHandled(e.prices(101, 99), log)    // loaded by this pass; a BTC crossing committed on the primary only
	c.promote()
	created := time.Now()
	if next := lost.CreatedAt.Add(time.Millisecond); created.Before(next) {
		created = next
	}
	a := e.above100At(c.standby, "BTC-USD", created)
	if a.ID != lost.ID {
		t.Fatalf("the new alert's ID %d, want the lost alert's %d: the test needs a reused ID", a.ID, lost.ID)
	}
	e.waitHandled(e.prices(99.5), log) // its commit finds the new primary behind: rewind
	last := e.prices(101)
	fired := e.ts
	e.waitHandled(last, log)
	stop()
	e.checkFiredOnce(c.standby, a, fired, s)
}
