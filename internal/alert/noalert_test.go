package alert_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/persist"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/testenv"
)

// idleStore is what the tests of an evaluator holding no alert need of a
// store: the evaluator's side and the API's.
type idleStore interface {
	restartStore
	alert.Restorer
	DeleteAlert(ctx context.Context, userID, id int64) error
	SetAlertPaused(ctx context.Context, userID, id int64, paused bool) (alert.Alert, error)
}

// TestNoAlertReadsNoMessage (decision 0078), on SQLite and PostgreSQL:
//   - with no alert the evaluator handles no log message (its consumer is
//     stopped: findash_alert_ticks_total stays 0, findash_alert_idle is 1)
//     while its stored position follows the log's head;
//   - the race of POST /alerts with that position, made to happen: the
//     API reads the head, the idle evaluator then commits a later head
//     (ticks, a crossing among them, arrive in between), then the alert is
//     inserted with the head read first. The store raises its CreatedSeq
//     to the position it read in the insert's transaction, so the alert is
//     evaluated on every message after its stored CreatedSeq: it fires on
//     the first crossing after its creation, once, and not on the one
//     before. Without the raise, the evaluator's new pass would start
//     after the committed position, and the messages between the head the
//     API read and that position would be after the alert's CreatedSeq
//     yet never evaluated;
//   - deleting the last alert stops the consumer again; a restart while
//     idle stays idle; a paused alert counts as an alert.
func TestNoAlertReadsNoMessage(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testNoAlertReadsNoMessage(t, openDB(t, filepath.Join(t.TempDir(), "findash.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		testNoAlertReadsNoMessage(t, openPostgres(t))
	})
}

func openPostgres(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), postgres.Config{PrimaryURL: testenv.Postgres(t).URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// idleEnv is a log, a store and a user for the tests of an evaluator
// holding no alert.
type idleEnv struct {
	t       *testing.T
	log     *bus.Bus
	db      idleStore
	userID  int64
	ts      int64 // of the last tick appended
	handled chan struct{}
}

func newIdleEnv(t *testing.T, db idleStore, ts int64) *idleEnv {
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("bus.Open() error: %v", err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	u, err := db.CreateUser(t.Context(), auth.User{Email: "ann@example.com", CreatedAt: time.Now(), EmailVerifiedAt: new(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	return &idleEnv{t: t, log: b, db: db, userID: u.ID, ts: ts, handled: make(chan struct{}, 1)}
}

// prices appends one BTC-USD tick per price, a second apart, and returns
// the last stream sequence.
func (e *idleEnv) prices(ps ...float64) uint64 {
	e.t.Helper()
	for _, p := range ps {
		e.ts += 1000
		if err := e.log.Append(e.t.Context(), []market.Tick{{Symbol: "BTC-USD", TS: e.ts, Price: p, Size: 1}}); err != nil {
			e.t.Fatal(err)
		}
	}
	return e.head()
}

func (e *idleEnv) head() uint64 {
	e.t.Helper()
	last, err := e.log.LastSeq(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return last
}

// start runs an evaluator until the returned stop is called; its log tells
// which messages it handled and signals e.handled, as does each read of
// the head while it holds no alert.
func (e *idleEnv) start(restorer alert.Restorer, reg prometheus.Registerer) (stop func(), log *watchedLog) {
	log = &watchedLog{Log: e.log, handled: e.handled}
	ev := alert.NewEvaluator(log, restorer, e.db, nil, nil,
		alert.Config{FlushInterval: 10 * time.Millisecond, RefreshInterval: time.Millisecond}, nil, reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ev.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("evaluator Run() error: %v", err)
		}
	}, log
}

// waitFor waits, looking again each time an evaluator handles a message or
// reads the head, until cond holds.
func (e *idleEnv) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.After(60 * time.Second)
	for !cond() {
		select {
		case <-e.handled:
		case <-deadline:
			e.t.Fatalf("not %s after 60s", what)
		}
	}
}

// position is the stored alert position.
func (e *idleEnv) position() uint64 {
	e.t.Helper()
	pos, err := e.db.AlertPosition(e.t.Context(), market.Unpartitioned)
	if err != nil {
		e.t.Fatal(err)
	}
	return pos
}

func (e *idleEnv) waitPosition(seq uint64) {
	e.t.Helper()
	e.waitFor("at the position", func() bool { return e.position() >= seq })
}

func (e *idleEnv) create(a alert.Alert) alert.Alert {
	e.t.Helper()
	a.UserID, a.Notify, a.CreatedAt = e.userID, []string{}, time.Now()
	if err := alert.Validate(&a); err != nil {
		e.t.Fatal(err)
	}
	a, err := e.db.CreateAlert(e.t.Context(), a, 10)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *idleEnv) events() []alert.Event {
	e.t.Helper()
	evs, err := e.db.AlertEvents(e.t.Context(), e.userID, 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func testNoAlertReadsNoMessage(t *testing.T, db idleStore) {
	e := newIdleEnv(t, db, day0)
	reg := prometheus.NewRegistry()
	stop, log := e.start(nil, reg)
	defer func() { stop() }()
	idle := func() float64 { return testenv.Gauge(t, reg, "findash_alert_idle") }
	ticks := func() float64 { return testenv.Counter(t, reg, "findash_alert_ticks_total") }

	e.waitPosition(e.prices(99, 101, 99))
	if log.last() != 0 || ticks() != 0 || idle() != 1 {
		t.Fatalf("with no alert: handled up to message %d, %v ticks evaluated, findash_alert_idle %v; want 0, 0, 1", log.last(), ticks(), idle())
	}

	// POST /alerts reads the head; the idle evaluator commits a later
	// one before the alert is inserted.
	head := e.head()
	before := e.prices(101) // a crossing after the head read, before the insert
	e.prices(99)
	pos := e.position()
	e.waitFor("past the head the API read", func() bool { pos = e.position(); return pos > head })
	a := e.create(alert.Alert{Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100, CreatedSeq: head, Hysteresis: 0.1})
	if a.CreatedSeq < pos {
		t.Errorf("alert created with the head %d read before the position %d was committed: CreatedSeq %d, want at least %d", head, pos, a.CreatedSeq, pos)
	}
	after := e.prices(102)
	e.waitFor("evaluated", func() bool { return log.last() >= after })
	e.waitPosition(after)
	// Every crossing after the alert's stored CreatedSeq fires, no other.
	var want []uint64
	for _, m := range []uint64{before, after} {
		if m > a.CreatedSeq {
			want = append([]uint64{m}, want...) // newest first
		}
	}
	var got []uint64
	for _, ev := range e.events() {
		got = append(got, ev.Seq>>16)
	}
	if !slices.Equal(got, want) || len(got) != 1 {
		t.Fatalf("alert at %d (the head read %d, the position %d): firings at messages %v, want %v (crossings at %d and %d), the one after the insert only",
			a.CreatedSeq, head, pos, got, want, before, after)
	}
	if idle() != 0 || ticks() == 0 {
		t.Errorf("with an alert: findash_alert_idle %v, %v ticks evaluated; want 0, some", idle(), ticks())
	}

	// The last alert deleted: the next message reloads the alerts, the
	// consumer stops, the position follows.
	if err := db.DeleteAlert(t.Context(), e.userID, a.ID); err != nil {
		t.Fatal(err)
	}
	e.prices(99.5)
	e.waitFor("idle again", func() bool { return idle() == 1 })
	handled := log.last()
	e.waitPosition(e.prices(103, 99))
	if log.last() != handled {
		t.Errorf("idle again: handled up to message %d, want %d (none after going idle)", log.last(), handled)
	}

	// A restart while idle stays idle; a paused alert counts.
	stop()
	last := e.prices(104, 99)
	reg = prometheus.NewRegistry()
	stop, log = e.start(nil, reg)
	e.waitPosition(last)
	if log.last() != 0 || ticks() != 0 || idle() != 1 {
		t.Fatalf("restarted with no alert: handled up to message %d, %v ticks evaluated, findash_alert_idle %v; want 0, 0, 1", log.last(), ticks(), idle())
	}
	p := e.create(alert.Alert{Symbol: "ETH-USD", Condition: alert.Above, Threshold: 100, CreatedSeq: e.head(), Hysteresis: 0.1})
	if _, err := db.SetAlertPaused(t.Context(), e.userID, p.ID, true); err != nil {
		t.Fatal(err)
	}
	last = e.prices(99.6)
	e.waitFor("evaluated with a paused alert", func() bool { return log.last() >= last })
	if idle() != 0 {
		t.Errorf("with a paused alert: findash_alert_idle %v, want 0", idle())
	}
	if evs := e.events(); len(evs) != 1 {
		t.Errorf("%d events in all, want the one", len(evs))
	}
}

// TestChangePctAfterNoAlert: a change_pct alert created while the
// evaluator holds no alert has the symbol's 24 h statistics from the
// persisted candles: its pass restores them, as any pass does, although
// the idle evaluator read no message and its position, like the
// persister's, is past the day's first ticks. The price 23 h ago was 100;
// 111 now is +11 %, above the alert's 10 %.
func TestChangePctAfterNoAlert(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "findash.db"))
	now := time.Now().Truncate(time.Minute)
	e := newIdleEnv(t, db, now.Add(-23*time.Hour).UnixMilli())
	pctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- persist.New(e.log, db, persist.Config{}, slog.New(slog.DiscardHandler), nil).Run(pctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("persister Run() error: %v", err)
		}
	}()
	stop, log := e.start(db, nil)
	defer stop()

	e.prices(100)
	e.ts = now.Add(-time.Minute).UnixMilli()
	last := e.prices(105, 104) // 23 h later
	e.waitPosition(last)
	if !testenv.WaitFor(30*time.Second, func() bool {
		p, err := db.LogPosition(t.Context(), market.Unpartitioned)
		return err == nil && p >= last
	}) {
		t.Fatal("the persister did not store the ticks within 30s")
	}
	if log.last() != 0 {
		t.Fatalf("with no alert: handled up to message %d, want 0", log.last())
	}
	e.create(alert.Alert{Symbol: "BTC-USD", Condition: alert.ChangePctAbove, Threshold: 10, CreatedSeq: e.head(), Hysteresis: 0.1})
	cross := e.prices(111)
	e.waitFor("evaluated", func() bool { return log.last() >= cross })
	e.waitPosition(cross)
	if evs := e.events(); len(evs) != 1 || evs[0].Value != 11 || evs[0].Price != 111 {
		t.Fatalf("events = %+v; want one at 111, +11 %% against the 24 h open 100", evs)
	}
}
