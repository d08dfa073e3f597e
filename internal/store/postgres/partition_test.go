package postgres_test

import (
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/testenv"
)

const dayMs = 86_400_000

func write(t *testing.T, db *postgres.DB, ticks []market.Tick, logSeq uint64) {
	t.Helper()
	r := market.NewRollup()
	for i := range ticks {
		r.Add(&ticks[i])
	}
	if err := db.WriteBatch(t.Context(), market.Unpartitioned, ticks, r.Candles(), 0, logSeq, logSeq); err != nil {
		t.Fatalf("WriteBatch(logSeq %d) error: %v", logSeq, err)
	}
}

func partitions(t *testing.T, db *postgres.DB) []int64 {
	t.Helper()
	ps, err := db.Partitions(t.Context())
	if err != nil {
		t.Fatalf("Partitions() error: %v", err)
	}
	out := []int64{}
	for _, p := range ps {
		out = append(out, p.UnixMilli())
	}
	return out
}

func TestMaintainPartitions(t *testing.T) {
	db := mustOpen(t)
	now := time.UnixMilli(day0 + 13*3_600_000) // 13:00 on day0
	for range 2 {                              // the second call finds nothing to do
		if err := db.MaintainPartitions(t.Context(), now); err != nil {
			t.Fatalf("MaintainPartitions() error: %v", err)
		}
	}
	want := []int64{day0, day0 + dayMs, day0 + 2*dayMs, day0 + 3*dayMs}
	if diff := gocmp.Diff(want, partitions(t, db)); diff != "" {
		t.Errorf("partitions after MaintainPartitions (-want +got):\n%s", diff)
	}
}

// Instances creating the same partitions at once (MaintainPartitions and
// WriteBatch for a new day) do not trip over each other.
func TestPartitionsConcurrently(t *testing.T) {
	dsn := testenv.Postgres(t).URL
	dbs := []*postgres.DB{open(t, postgres.Config{PrimaryURL: dsn}), open(t, postgres.Config{PrimaryURL: dsn}), open(t, postgres.Config{PrimaryURL: dsn})}
	if err := dbs[0].Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			if err := db.MaintainPartitions(t.Context(), time.UnixMilli(day0)); err != nil {
				t.Errorf("MaintainPartitions() error: %v", err)
			}
			ticks := []market.Tick{{Symbol: "AAA", TS: day0 + 10*dayMs + int64(i), Price: 1, Size: 1, Seq: uint64(i + 1)}}
			r := market.NewRollup()
			r.Add(&ticks[0])
			if err := db.WriteBatch(t.Context(), market.Unpartitioned, ticks, r.Candles(), 0, uint64(i+1), uint64(i+1)); err != nil {
				t.Errorf("WriteBatch() error: %v", err)
			}
		})
	}
	wg.Wait()
	want := []int64{day0, day0 + dayMs, day0 + 2*dayMs, day0 + 3*dayMs, day0 + 10*dayMs}
	if diff := gocmp.Diff(want, partitions(t, dbs[0])); diff != "" {
		t.Errorf("partitions (-want +got):\n%s", diff)
	}
}

// Retention drops whole days and deletes the rest before the cut; a writer
// whose idea of the partitions is stale (another instance dropped one)
// recreates it.
func TestRetentionDropsPartitions(t *testing.T) {
	dsn := testenv.Postgres(t).URL
	a, b := open(t, postgres.Config{PrimaryURL: dsn}), open(t, postgres.Config{PrimaryURL: dsn})
	if err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var ticks []market.Tick
	for d := range int64(3) { // 100 ticks a day on days -2, -1, 0
		for i := range int64(100) {
			ticks = append(ticks, market.Tick{Symbol: "AAA", TS: day0 + (d-2)*dayMs + i*1000, Price: 1, Size: 1, Seq: uint64(d*100 + i + 1)})
		}
	}
	write(t, a, ticks, 1)
	if diff := gocmp.Diff([]int64{day0 - 2*dayMs, day0 - dayMs, day0}, partitions(t, a)); diff != "" {
		t.Errorf("partitions created by WriteBatch (-want +got):\n%s", diff)
	}
	n, err := b.DeleteTicksBefore(t.Context(), day0+50_000) // 50 ticks into day 0
	if err != nil {
		t.Fatalf("DeleteTicksBefore() error: %v", err)
	}
	if n != 250 {
		t.Errorf("DeleteTicksBefore() = %d, want 250", n)
	}
	if diff := gocmp.Diff([]int64{day0}, partitions(t, a)); diff != "" {
		t.Errorf("partitions after retention (-want +got):\n%s", diff)
	}
	left, err := a.Ticks(t.Context(), "AAA", market.MinTS, market.MaxTS, 1000)
	if err != nil || len(left) != 50 || left[0].TS != day0+50_000 {
		t.Fatalf("Ticks() after retention = %d ticks from %v, %v; want 50 from %d", len(left), left[:min(1, len(left))], err, day0+50_000)
	}

	// a still believes day -1 has a partition.
	late := []market.Tick{{Symbol: "AAA", TS: day0 - dayMs + 5, Price: 2, Size: 1, Seq: 1000}}
	write(t, a, late, 2)
	got, err := a.Ticks(t.Context(), "AAA", day0-dayMs, day0-1, 10)
	if err != nil || len(got) != 1 || got[0].Seq != 1000 {
		t.Errorf("Ticks(day -1) after a late write = %v, %v; want the late tick", got, err)
	}
}

// A newer batch that repeats a stored tick (COPY fails on it) is written
// with the tick stored once, and its candles merged.
func TestRepeatedTickStoredOnce(t *testing.T) {
	db := mustOpen(t)
	a := []market.Tick{{Symbol: "AAA", TS: day0 + 1, Price: 10, Size: 1, Seq: 1}, {Symbol: "AAA", TS: day0 + 2, Price: 11, Size: 1, Seq: 2}}
	write(t, db, a, 1)
	b := []market.Tick{a[1], {Symbol: "AAA", TS: day0 + 3, Price: 12, Size: 1, Seq: 3}}
	// The caller rolls up what it writes: b's partials hold the repeated tick.
	write(t, db, b, 2)
	got, err := db.Ticks(t.Context(), "AAA", market.MinTS, market.MaxTS, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]market.Tick{a[0], a[1], b[1]}, got); diff != "" {
		t.Errorf("Ticks() (-want +got):\n%s", diff)
	}
	if pos, err := db.LogPosition(t.Context(), market.Unpartitioned); err != nil || pos != 2 {
		t.Errorf("LogPosition() = %d, %v; want 2", pos, err)
	}
}
