package alert_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/testenv"
)

// restartStore is what the restart tests need of a store: the
// evaluator's side and the API's.
type restartStore interface {
	alert.Store
	CreateUser(ctx context.Context, u auth.User) (auth.User, error)
	CreateAlert(ctx context.Context, a alert.Alert, maxPerUser int) (alert.Alert, error)
	UpdateAlert(ctx context.Context, a alert.Alert) (alert.Alert, error)
	AlertEvents(ctx context.Context, userID, before int64, limit int) ([]alert.Event, error)
}

// eachStore runs fn on a fresh, migrated SQLite store and on a PostgreSQL
// one (skipped without FINDASH_TEST_POSTGRES_URL).
func eachStore(t *testing.T, fn func(t *testing.T, db restartStore)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, openDB(t, filepath.Join(t.TempDir(), "findash.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := postgres.Open(t.Context(), postgres.Config{PrimaryURL: testenv.Postgres(t).URL}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		fn(t, db)
	})
}

// restartRig is an embedded NATS log, a store and a user, with evaluators
// run one at a time until they have committed the log's last message.
type restartRig struct {
	t       *testing.T
	b       *bus.Bus
	db      restartStore
	userID  int64
	ts      int64
	handled chan struct{}
}

func newRestartRig(t *testing.T, db restartStore) *restartRig {
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("bus.Open() error: %v", err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	u, err := db.CreateUser(t.Context(), auth.User{Email: "ann@example.com", CreatedAt: time.Now(), EmailVerifiedAt: new(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	return &restartRig{t: t, b: b, db: db, userID: u.ID, ts: day0, handled: make(chan struct{}, 1)}
}

// price appends a BTC-USD tick at p, a second after the last, and returns
// the log's head: the tick's message.
func (r *restartRig) price(p float64) uint64 {
	r.t.Helper()
	r.ts += 1000
	if err := r.b.Append(r.t.Context(), []market.Tick{{Symbol: "BTC-USD", TS: r.ts, Price: p, Size: 1}}); err != nil {
		r.t.Fatal(err)
	}
	return r.head()
}

// head is the log's newest stream sequence, as the API reads it.
func (r *restartRig) head() uint64 {
	r.t.Helper()
	last, err := r.b.LastSeq(r.t.Context())
	if err != nil {
		r.t.Fatal(err)
	}
	return last
}

// run runs an evaluator until the position stored reaches last, then
// stops it.
func (r *restartRig) run(last uint64) {
	r.t.Helper()
	ctx := r.t.Context()
	log := &watchedLog{Log: r.b, handled: r.handled}
	ev := alert.NewEvaluator(log, nil, r.db, nil, nil, alert.Config{FlushInterval: time.Nanosecond, RefreshInterval: time.Millisecond}, nil, nil)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ev.Run(rctx) }()
	deadline := time.After(60 * time.Second)
	for {
		pos, err := r.db.AlertPosition(ctx, market.Unpartitioned)
		if err == nil && pos >= last {
			break
		}
		select {
		case <-r.handled:
		case <-deadline:
			r.t.Fatalf("alert position %d, %v after 60s; want %d", pos, err, last)
		}
	}
	cancel()
	if err := <-done; err != nil {
		r.t.Errorf("Run() error: %v", err)
	}
}

// events are the user's events, newest first.
func (r *restartRig) events() []alert.Event {
	r.t.Helper()
	evs, err := r.db.AlertEvents(r.t.Context(), r.userID, 0, 10)
	if err != nil {
		r.t.Fatal(err)
	}
	return evs
}

// TestRestartSkipsTicksBeforeCreation: the evaluator is stopped with its
// stored position before a crossing; an alert is created after that
// crossing, with the log's head as its position (what the API does);
// another crossing comes after the creation, while the evaluator is still
// down. The restarted evaluator records the second crossing only. Before
// Alert.CreatedSeq it evaluated the alert on every message after the
// stored position and also recorded the first: an event dated before the
// alert existed (2 events, the first at the crossing before creation).
func TestRestartSkipsTicksBeforeCreation(t *testing.T) {
	eachStore(t, testRestartSkipsTicksBeforeCreation)
}

func testRestartSkipsTicksBeforeCreation(t *testing.T, db restartStore) {
	r := newRestartRig(t, db)
	r.run(r.price(99))     // the stored position: before everything below
	before := r.price(101) // a crossing before the alert exists
	r.price(99)
	head := r.head()
	a := alert.Alert{UserID: r.userID, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100,
		Hysteresis: alert.DefaultHysteresis, CooldownS: 0, Notify: []string{},
		CreatedAt: time.UnixMilli(r.ts + 500), CreatedSeq: head}
	if _, err := db.CreateAlert(t.Context(), a, 10); err != nil {
		t.Fatal(err)
	}
	after := r.price(102) // a crossing after its creation, the evaluator still down
	r.run(r.price(99.2))

	if evs := r.events(); len(evs) != 1 || evs[0].Price != 102 || evs[0].Seq>>16 != after {
		t.Fatalf("events after the restart = %+v; want one, the crossing at 102 (message %d) after the alert's creation (message %d), not the one at 101 (message %d) before it",
			evs, after, head, before)
	}
}
