package partitions_test

import (
	"context"
	"testing"
	"time"

	"github.com/findash/findash/internal/testenv"
)

// TestMetricsSummedOverWorkers (issue 17, "metrics summed over pods are
// true"): two workers share 8 partitions and 256 alerts (64 fire once);
// once every tick is stored, findash_persist_ticks_total summed over the
// workers equals the rows stored and the ticks acknowledged,
// findash_alert_ticks_total summed equals the ticks acknowledged, and
// findash_alert_firings_total summed equals the events stored. Before
// decision 0042 every worker counted every tick, and the sums were twice
// the truth.
//
// Needs FINDASH_TEST_POSTGRES_URL (skips without, fails with
// FINDASH_TEST_REQUIRE=1).
func TestMetricsSummedOverWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	db := testenv.Postgres(t)
	h := setup(t, build(t), db.URL)
	createAlerts(t, db.URL)
	h.addWorkers(t, 2)
	h.balance(t, 30*time.Second)
	f := &feeder{base: "http://" + h.ingest, key: h.key, ts0: time.Now().Add(-2 * time.Hour).UnixMilli()}
	f.run(context.Background(), 40)
	acked := f.acked.Load()
	if acked != 40*1024 {
		t.Fatalf("%d of %d ticks acknowledged", acked, 40*1024)
	}
	var persisted, evaluated int64
	if !testenv.Poll(60*time.Second, 100*time.Millisecond, func() bool {
		persisted = sumMetric(h.workers, "findash_persist_ticks_total")
		evaluated = sumMetric(h.workers, "findash_alert_ticks_total")
		return persisted >= acked && evaluated >= acked
	}) {
		t.Fatalf("after 60s the workers count %d ticks persisted and %d evaluated, want %d", persisted, evaluated, acked)
	}
	rows, candles := counts(t, db.URL)
	persisted = sumMetric(h.workers, "findash_persist_ticks_total")
	evaluated = sumMetric(h.workers, "findash_alert_ticks_total")
	if persisted != rows || rows != acked || candles != acked {
		t.Errorf("findash_persist_ticks_total summed over the workers %d, rows %d, 1d candles count %d; want all %d", persisted, rows, candles, acked)
	}
	if evaluated != acked {
		t.Errorf("findash_alert_ticks_total summed over the workers %d, want %d", evaluated, acked)
	}
	// The 64 firings happen in the first batch (prices 100..115 cross 110
	// at once), long before the last tick is evaluated.
	fired, events := sumMetric(h.workers, "findash_alert_firings_total"), eventCount(t, db.URL)
	if fired != 64 || events != 64 {
		t.Errorf("findash_alert_firings_total summed %d, events stored %d; want 64 and 64", fired, events)
	}
	for i, w := range h.workers {
		if n := len(owned(t, w.admin)); n != parts/2 {
			t.Errorf("worker %d owns %d partitions, want %d", i, n, parts/2)
		}
	}
}
