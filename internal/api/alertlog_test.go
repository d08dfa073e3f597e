package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"testing"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// TestAlertCreatedAtLogHead: POST /api/v1/alerts stores the log's newest
// stream sequence with the alert (a real embedded NATS log), which the
// evaluator reads to skip the messages before the alert's creation after a
// restart (decision 0065); an edit (PATCH with a definition field) stores
// the head at the edit, a pause or resume keeps the position (decision
// 0079). With the log unreachable a creation or an edit is 503, not an
// alert whose position is unknown or stale; a pause still works.
func TestAlertCreatedAtLogHead(t *testing.T) {
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("bus.Open() error: %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			b.Close(context.Background())
		}
	})
	for range 3 {
		if err := b.Append(t.Context(), []market.Tick{{Symbol: "BTC-USD", TS: 1764201600000, Price: 1, Size: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	var db *sqlite.DB
	f := newAccountsFixture(t, withAlerts(t, nil), func(_ *api.Config, d *api.Deps) {
		d.AlertLog, db = b, d.Candles.(*sqlite.DB)
	})
	ann, _ := f.signupLogin(t, "ann@example.com")
	var created struct{ ID int64 }
	json.Unmarshal(ann.must(t, 201, "POST", "/api/v1/alerts", map[string]any{"symbol": "BTC-USD", "condition": "above", "threshold": 100}), &created)
	position := func(want uint64, after string) {
		t.Helper()
		all, _, err := db.EvaluatedAlerts(t.Context())
		if err != nil || len(all) != 1 || all[0].ID != created.ID || all[0].CreatedSeq != want {
			t.Fatalf("EvaluatedAlerts() after %s = %+v, %v; want alert %d at message %d", after, all, err, created.ID, want)
		}
	}
	position(3, "the creation")
	for range 2 {
		if err := b.Append(t.Context(), []market.Tick{{Symbol: "BTC-USD", TS: 1764201600000, Price: 1, Size: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	path := "/api/v1/alerts/" + strconv.FormatInt(created.ID, 10)
	ann.must(t, 200, "PATCH", path, map[string]any{"paused": true})
	ann.must(t, 200, "PATCH", path, map[string]any{"paused": false})
	position(3, "a pause and a resume")
	ann.must(t, 200, "PATCH", path, map[string]any{"threshold": 110})
	position(5, "an edit")

	closed = true
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b := ann.must(t, 503, "POST", "/api/v1/alerts", map[string]any{"symbol": "BTC-USD", "condition": "above", "threshold": 100}); !json.Valid(b) {
		t.Errorf("503 body %s", b)
	}
	ann.must(t, 503, "PATCH", path, map[string]any{"threshold": 120})
	ann.must(t, 200, "PATCH", path, map[string]any{"paused": true})
	position(5, "a failed edit and a pause")
}
