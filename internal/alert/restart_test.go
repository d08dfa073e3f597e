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

// restartStore is what TestRestartSkipsTicksBeforeCreation needs of a
// store: the evaluator's side and the API's.
type restartStore interface {
	alert.Store
	CreateUser(ctx context.Context, u auth.User) (auth.User, error)
	CreateAlert(ctx context.Context, a alert.Alert, maxPerUser int) (alert.Alert, error)
	AlertEvents(ctx context.Context, userID, before int64, limit int) ([]alert.Event, error)
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
	t.Run("sqlite", func(t *testing.T) {
		testRestartSkipsTicksBeforeCreation(t, openDB(t, filepath.Join(t.TempDir(), "findash.db")))
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
		testRestartSkipsTicksBeforeCreation(t, db)
	})
}

func testRestartSkipsTicksBeforeCreation(t *testing.T, db restartStore) {
	ctx := t.Context()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("bus.Open() error: %v", err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	u, err := db.CreateUser(ctx, auth.User{Email: "ann@example.com", CreatedAt: time.Now(), EmailVerifiedAt: new(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	ts := day0
	price := func(p float64) uint64 {
		t.Helper()
		ts += 1000
		if err := b.Append(ctx, []market.Tick{{Symbol: "BTC-USD", TS: ts, Price: p, Size: 1}}); err != nil {
			t.Fatal(err)
		}
		last, err := b.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return last
	}
	handled := make(chan struct{}, 1)
	// run runs an evaluator until the position stored reaches the log's
	// last message, then stops it.
	run := func(last uint64) {
		t.Helper()
		log := &watchedLog{Log: b, handled: handled}
		ev := alert.NewEvaluator(log, nil, db, nil, nil, alert.Config{FlushInterval: time.Nanosecond, RefreshInterval: time.Millisecond}, nil, nil)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- ev.Run(rctx) }()
		deadline := time.After(60 * time.Second)
		for {
			pos, err := db.AlertPosition(ctx, market.Unpartitioned)
			if err == nil && pos >= last {
				break
			}
			select {
			case <-handled:
			case <-deadline:
				t.Fatalf("alert position %d, %v after 60s; want %d", pos, err, last)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() error: %v", err)
		}
	}

	run(price(99))       // the stored position: before everything below
	before := price(101) // a crossing before the alert exists
	price(99)
	head, err := b.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := alert.Alert{UserID: u.ID, Symbol: "BTC-USD", Condition: alert.Above, Threshold: 100,
		Hysteresis: alert.DefaultHysteresis, CooldownS: 0, Notify: []string{},
		CreatedAt: time.UnixMilli(ts + 500), CreatedSeq: head}
	if _, err := db.CreateAlert(ctx, a, 10); err != nil {
		t.Fatal(err)
	}
	after := price(102) // a crossing after its creation, the evaluator still down
	run(price(99.2))

	evs, err := db.AlertEvents(ctx, u.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Price != 102 || evs[0].Seq>>16 != after {
		t.Fatalf("events after the restart = %+v; want one, the crossing at 102 (message %d) after the alert's creation (message %d), not the one at 101 (message %d) before it",
			evs, after, head, before)
	}
}
