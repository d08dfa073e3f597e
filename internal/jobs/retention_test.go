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
	if err := st.WriteBatch(t.Context(), market.Unpartitioned, ticks, r.Candles(), 0, 1, 2); err != nil {
		t.Fatal(err)
	}

	jdb, err := sqlite.OpenJobsDB(t.Context(), filepath.Join(dir, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer jdb.Close()
	janitor := sweepSignal{retention.New(st, retention.Config{Retention: 7 * 24 * time.Hour}, time.Now, slog.New(slog.DiscardHandler)), make(chan int64, 1)}
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

	select {
	case n := <-janitor.swept:
		if n != 2 {
			t.Errorf("the retention job deleted %d ticks, want 2", n)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the retention job did not run within 15 s")
	}
	left, err := st.Ticks(t.Context(), "RET", market.MinTS, market.MaxTS, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].TS != recent {
		t.Fatalf("after the retention job ticks = %+v, want only the recent one", left)
	}
}

// sweepSignal is a Sweeper that reports each successful sweep's count on
// swept (dropped when one is already waiting): the event the test waits for.
type sweepSignal struct {
	jobs.Sweeper
	swept chan int64
}

func (s sweepSignal) Sweep(ctx context.Context) (int64, error) {
	n, err := s.Sweeper.Sweep(ctx)
	if err == nil {
		select {
		case s.swept <- n:
		default:
		}
	}
	return n, err
}

// deadlineSweeper reports how long its sweep's context had left.
type deadlineSweeper chan time.Duration

func (d deadlineSweeper) Sweep(ctx context.Context) (int64, error) {
	left := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	select {
	case d <- left:
	default:
	}
	return 0, nil
}

// TestTickRetentionJobTimeout: the sweep (which archives whole days before
// deleting them) gets the retention period, not JobTimeout, to finish.
func TestTickRetentionJobTimeout(t *testing.T) {
	jdb, err := sqlite.OpenJobsDB(t.Context(), filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer jdb.Close()
	cfg := testConfig()
	cfg.JobTimeout = time.Second
	cfg.RetentionEvery = time.Hour
	sw := make(deadlineSweeper, 1)
	q, err := jobs.New(t.Context(), riversqlite.New(jdb), jobs.Handlers{Retention: sw}, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case left := <-sw:
		if left < 50*time.Minute {
			t.Errorf("the retention sweep had %v left, want about the retention period (1h), not JobTimeout (1s)", left)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the retention job did not run within 15 s")
	}
}
