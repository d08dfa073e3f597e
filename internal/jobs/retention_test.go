package jobs_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/findash/findash/internal/jobs"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/retention"
	"github.com/findash/findash/internal/store/sqlite"
)

// TestTickRetentionJob: the worker runs tick_retention at start and then
// every RetentionEvery, deleting ticks older than the retention from the real
// store while keeping the recent ones.
func TestTickRetentionJob(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "findash.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := now.Add(-10 * 24 * time.Hour).UnixMilli()
	recent := now.Add(-time.Hour).UnixMilli()
	ticks := []market.Tick{
		{Symbol: "RET", TS: old, Price: 1, Size: 1, Seq: 1 << 16},
		{Symbol: "RET", TS: old + 1, Price: 1, Size: 1, Seq: 1<<16 | 1},
		{Symbol: "RET", TS: recent, Price: 2, Size: 1, Seq: 2 << 16},
	}
	r := market.NewRollup()
	for i := range ticks {
		r.Add(&ticks[i])
	}
	if err := st.WriteBatch(t.Context(), ticks, r.Candles(), 1, 2); err != nil {
		t.Fatal(err)
	}

	jdb, err := sqlite.OpenJobsDB(t.Context(), filepath.Join(dir, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer jdb.Close()
	janitor := retention.New(st, retention.Config{Retention: 7 * 24 * time.Hour}, time.Now, slog.New(slog.DiscardHandler))
	cfg := testConfig()
	cfg.RetentionEvery = time.Hour
	q, err := jobs.New(t.Context(), riversqlite.New(jdb), jobs.Handlers{Retention: janitor}, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	defer func() { cancel(); <-done }()

	for deadline := time.Now().Add(15 * time.Second); ; {
		left, err := st.Ticks(t.Context(), "RET", market.MinTS, market.MaxTS, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 1 && left[0].TS == recent {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the retention job ticks = %+v, want only the recent one", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
