package retention_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/findash/findash/internal/archive"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/retention"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/testenv"
)

// importAfterRead is the store as the archiver sees it: after the
// archiver's first full read of AAA's day 0 it imports one more tick into
// that day through the real import path (store.ImportTicks), as `findash
// import` does while the sweep runs.
type importAfterRead struct {
	*store
	t    *testing.T
	tick market.Tick
	done bool
}

func (s *importAfterRead) Ticks(ctx context.Context, symbol string, from, to int64, limit int) ([]market.Tick, error) {
	got, err := s.store.Ticks(ctx, symbol, from, to, limit)
	if err == nil && !s.done && symbol == "AAA" && from == day0 && limit > 1 {
		s.done = true
		if n, err := s.ImportTicks(ctx, "test", []market.Tick{s.tick}); err != nil || n != 1 {
			s.t.Errorf("ImportTicks() = %d, %v", n, err)
		}
	}
	return got, err
}

// TestSweepKeepsTickImportedWhileArchiving: a tick imported into an expired
// day after the archiver read the day is not deleted unarchived: the
// sweep's delete of that (symbol, day) finds one tick more than the
// archiver read, archives the day again and deletes it then, so the
// archive holds every tick. Before the counted delete the sweep deleted
// by time and the tick was in neither the store nor the archive.
func TestSweepKeepsTickImportedWhileArchiving(t *testing.T) {
	st, objs, _ := setup(t)
	now := day0 + 3*dayMs + 12*3600_000
	imported := market.Tick{Symbol: "AAA", TS: day0 + 500, Seq: 1 << 40, Price: 99, Size: 2}
	src := &importAfterRead{store: st, t: t, tick: imported}
	arch := archive.New(objs, src, archive.Config{}, nil, nil)
	j := retention.New(st, retention.Config{Retention: 48 * time.Hour, Archive: arch}, func() time.Time { return time.UnixMilli(now) }, slog.New(slog.DiscardHandler))
	n, err := j.Sweep(t.Context())
	if err != nil {
		t.Fatalf("Sweep() error: %v", err)
	}
	if !src.done {
		t.Fatal("the import never ran: the test does not test the race")
	}
	if n != 601 {
		t.Errorf("Sweep() deleted %d ticks, want 601 (day 0 and the imported tick)", n)
	}
	stored := ticksOf(t, st.Ticks, day0, day0+dayMs-1)
	archived := ticksOf(t, arch.Ticks, day0, day0+dayMs-1)
	if len(stored) != 0 || len(archived) != 601 {
		t.Errorf("day 0: %d ticks stored and %d archived, want 0 and 601", len(stored), len(archived))
	}
	if !slices.ContainsFunc(archived, func(x market.Tick) bool { return x.Seq == imported.Seq && x.Price == imported.Price }) {
		t.Errorf("the tick imported during the sweep is lost: in neither the store nor the archive")
	}
}

// raceStore is what the concurrent race needs of a real store.
type raceStore interface {
	retention.Deleter
	archive.Source
	WriteBatch(ctx context.Context, part int, ticks []market.Tick, candles []market.Candle, prevSeq, fromSeq, logSeq uint64) error
	ImportTicks(ctx context.Context, source string, ticks []market.Tick) (int, error)
}

// TestSweepRacesImports runs sweeps and an importer writing into expired
// days at the same time (goroutines, one real database, the real archive
// on disk) and then checks that every tick written is in the store or in
// the archive, once: on SQLite, and on PostgreSQL when
// FINDASH_TEST_POSTGRES_URL is set (its DELETE sees a snapshot: an import
// committed after it is not deleted; the emptied day partitions are
// dropped under a table lock).
func TestSweepRacesImports(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		st, objs, base := setup(t)
		raceImports(t, st.DB, objs, base)
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
		_, objs, base := setup(t)
		r := market.NewRollup()
		for i := range base {
			r.Add(&base[i])
		}
		if err := db.WriteBatch(t.Context(), market.Unpartitioned, base, r.Candles(), 0, 1, 1); err != nil {
			t.Fatal(err)
		}
		raceImports(t, db, objs, base)
	})
}

func raceImports(t *testing.T, st raceStore, objs *objects, base []market.Tick) {
	now := day0 + 3*dayMs + 12*3600_000
	arch := archive.New(objs, st, archive.Config{}, nil, nil)
	j := retention.New(st, retention.Config{Retention: 48 * time.Hour, Archive: arch}, func() time.Time { return time.UnixMilli(now) }, slog.New(slog.DiscardHandler))

	const batches, per = 40, 25
	var imported []market.Tick
	for b := range batches {
		for i := range per {
			imported = append(imported, market.Tick{Symbol: "AAA", TS: day0 + int64(b%2)*dayMs + 400_000 + int64(b*per+i), Seq: 1<<40 + uint64(b*per+i), Price: 7, Size: 1})
		}
	}
	// Each sweep runs while one batch is imported: the two goroutines
	// start together and neither waits for the other.
	for b := range batches {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.ImportTicks(t.Context(), "race", imported[b*per:(b+1)*per]); err != nil {
				t.Errorf("ImportTicks(batch %d) error: %v", b, err)
			}
		}()
		if _, err := j.Sweep(t.Context()); err != nil {
			t.Errorf("Sweep() error: %v", err)
		}
		wg.Wait()
	}
	if _, err := j.Sweep(t.Context()); err != nil { // the last, alone
		t.Fatalf("Sweep() error: %v", err)
	}
	byKey := func(a, b market.Tick) int {
		if a.Symbol != b.Symbol {
			if a.Symbol < b.Symbol {
				return -1
			}
			return 1
		}
		if a.Before(&b) {
			return -1
		}
		return 1
	}
	var want []market.Tick
	for _, x := range append(slices.Clone(base), imported...) {
		if x.TS < day0+2*dayMs { // days 0 and 1: day 0 swept
			want = append(want, x)
		}
	}
	slices.SortFunc(want, byKey)
	got := append(ticksOf(t, st.Ticks, day0, day0+2*dayMs-1), ticksOf(t, arch.Ticks, day0, day0+2*dayMs-1)...)
	slices.SortFunc(got, byKey)
	if len(got) != len(want) {
		t.Fatalf("after %d sweeps raced an import each: %d ticks of days 0-1 stored or archived, want %d", batches, len(got), len(want))
	}
	for i := range want {
		if got[i].Seq != want[i].Seq || got[i].TS != want[i].TS {
			t.Fatalf("tick %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if left := ticksOf(t, st.Ticks, day0, day0+dayMs-1); len(left) != 0 {
		t.Errorf("%d ticks of day 0 left in the store after the last sweep, want 0", len(left))
	}
}
