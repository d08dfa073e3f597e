package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// TestAlertCreatedAtLogHead: POST /api/v1/alerts stores the log's newest
// stream sequence with the alert (a real embedded NATS log), which the
// evaluator reads to skip the messages before the alert's creation after a
// restart (decision 0065); with the log unreachable the creation is 503,
// not an alert whose position is unknown.
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
	all, _, err := db.EvaluatedAlerts(t.Context())
	if err != nil || len(all) != 1 || all[0].ID != created.ID || all[0].CreatedSeq != 3 {
		t.Fatalf("EvaluatedAlerts() = %+v, %v; want alert %d created at message 3", all, err, created.ID)
	}

	closed = true
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b := ann.must(t, 503, "POST", "/api/v1/alerts", map[string]any{"symbol": "BTC-USD", "condition": "above", "threshold": 100}); !json.Valid(b) {
		t.Errorf("503 body %s", b)
	}
}
