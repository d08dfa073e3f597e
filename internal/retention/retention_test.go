package retention_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/archive"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/objstore"
	"github.com/findash/findash/internal/retention"
	"github.com/findash/findash/internal/store/sqlite"
)

const dayMs = 24 * 60 * 60 * 1000

var day0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).UnixMilli()

// store is the real SQLite store whose DeleteTicksBefore can be made to
// fail: a process that dies between the archive and the delete.
type store struct {
	*sqlite.DB
	failDelete bool
}

func (s *store) DeleteTicksBefore(ctx context.Context, ts int64) (int64, error) {
	if s.failDelete {
		return 0, errors.New("database went away")
	}
	return s.DB.DeleteTicksBefore(ctx, ts)
}

func (s *store) DeleteTicksCounted(ctx context.Context, symbol string, from, to, want int64) (int64, bool, error) {
	if s.failDelete {
		return 0, false, errors.New("database went away")
	}
	return s.DB.DeleteTicksCounted(ctx, symbol, from, to, want)
}

// objects fails the Put of keys with a suffix (a bucket that breaks midway).
type objects struct {
	*objstore.Local
	failPut string
}

func (o *objects) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if o.failPut != "" && strings.HasSuffix(key, o.failPut) {
		return 0, errors.New("bucket on fire")
	}
	return o.Local.Put(ctx, key, r)
}

func setup(t *testing.T) (*store, *objects, []market.Tick) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "findash.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Three days of two symbols, and ticks of today.
	var ticks []market.Tick
	for d := range 4 {
		for i := range 300 {
			for _, s := range []string{"AAA", "B/C"} {
				ticks = append(ticks, market.Tick{Symbol: s, TS: day0 + int64(d)*dayMs + int64(i)*1000, Seq: uint64(d*1000 + i + 1), Price: 10 + float64(i)/8, Size: 1})
			}
		}
	}
	r := market.NewRollup()
	for i := range ticks {
		r.Add(&ticks[i])
	}
	if err := db.WriteBatch(t.Context(), market.Unpartitioned, ticks, r.Candles(), 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	l, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &store{DB: db}, &objects{Local: l}, ticks
}

func ticksOf(t *testing.T, read func(context.Context, string, int64, int64, int) ([]market.Tick, error), from, to int64) []market.Tick {
	t.Helper()
	var out []market.Tick
	for _, s := range []string{"AAA", "B/C"} {
		got, err := read(t.Context(), s, from, to, 1<<20)
		if err != nil {
			t.Fatalf("Ticks(%s) error: %v", s, err)
		}
		out = append(out, got...)
	}
	return out
}

func manifest(t *testing.T, o *objects, date string) []byte {
	t.Helper()
	rc, err := o.Open(t.Context(), "ticks/date="+date+"/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

// TestSweepArchivesBeforeDeleting: with an archive, a sweep deletes only
// whole archived days; a sweep that fails between the archive and the
// delete leaves the ticks stored, and the next one rewrites the same
// archive (same manifest bytes, no tick twice) and deletes them.
func TestSweepArchivesBeforeDeleting(t *testing.T) {
	st, objs, _ := setup(t)
	now := day0 + 3*dayMs + 12*3600_000 // noon of day 3
	const ret = 48 * time.Hour          // the cut: day 1 noon, after every tick of day 1
	arch := archive.New(objs, st, archive.Config{}, nil, nil)
	j := retention.New(st, retention.Config{Retention: ret, Archive: arch}, func() time.Time { return time.UnixMilli(now) }, slog.New(slog.DiscardHandler))
	before := ticksOf(t, st.Ticks, day0, day0+dayMs-1) // day 0: the only whole day before the cut

	st.failDelete = true
	if _, err := j.Sweep(t.Context()); err == nil {
		t.Fatal("Sweep() with a failing delete: error = nil")
	}
	if got := ticksOf(t, st.Ticks, day0, day0+dayMs-1); len(got) != len(before) {
		t.Fatalf("after a failed delete %d ticks of day 0 stored, want %d", len(got), len(before))
	}
	m1 := manifest(t, objs, "2026-11-02")

	st.failDelete = false
	n, err := j.Sweep(t.Context())
	if err != nil {
		t.Fatalf("Sweep() error: %v", err)
	}
	if n != int64(len(before)) {
		t.Errorf("Sweep() deleted %d ticks, want %d (day 0 only: day 1 straddles the cut)", n, len(before))
	}
	if m2 := manifest(t, objs, "2026-11-02"); !bytes.Equal(m1, m2) {
		t.Errorf("the rerun changed the manifest:\n%s\nwas\n%s", m2, m1)
	}
	if diff := gocmp.Diff(before, ticksOf(t, arch.Ticks, day0, day0+dayMs-1)); diff != "" {
		t.Errorf("archive of day 0 (-stored +archive):\n%s", diff)
	}
	if got := ticksOf(t, st.Ticks, day0, day0+dayMs-1); len(got) != 0 {
		t.Errorf("%d ticks of day 0 still stored", len(got))
	}
	if got := ticksOf(t, st.Ticks, day0+dayMs, day0+2*dayMs-1); len(got) != 600 {
		t.Errorf("%d ticks of day 1 stored, want 600 (its day is not whole before the cut)", len(got))
	}
}

// TestSweepArchiveFailsMidway: a bucket that fails on day 1 lets the sweep
// delete day 0 (archived) and keep day 1 onwards, and report the error.
func TestSweepArchiveFailsMidway(t *testing.T) {
	st, objs, _ := setup(t)
	objs.failPut = "date=2026-11-03/manifest.json"
	now := day0 + 3*dayMs + 12*3600_000
	arch := archive.New(objs, st, archive.Config{}, nil, nil)
	j := retention.New(st, retention.Config{Retention: 12 * time.Hour, Archive: arch}, func() time.Time { return time.UnixMilli(now) }, slog.New(slog.DiscardHandler))
	n, err := j.Sweep(t.Context())
	if err == nil {
		t.Fatal("Sweep() error = nil")
	}
	if n != 600 {
		t.Errorf("Sweep() deleted %d ticks, want 600 (day 0)", n)
	}
	if got := ticksOf(t, st.Ticks, day0+dayMs, day0+3*dayMs-1); len(got) != 1200 {
		t.Errorf("%d ticks of days 1-2 stored, want 1200", len(got))
	}
}

// TestSweepWithoutArchive deletes to the retention, as before: the ticks
// of day 1 go although its day is not over at the cut.
func TestSweepWithoutArchive(t *testing.T) {
	st, _, _ := setup(t)
	now := day0 + 3*dayMs + 12*3600_000
	j := retention.New(st, retention.Config{Retention: 48 * time.Hour}, func() time.Time { return time.UnixMilli(now) }, slog.New(slog.DiscardHandler))
	n, err := j.Sweep(t.Context())
	if err != nil || n != 1200 {
		t.Errorf("Sweep() = %d, %v; want 1200 (days 0 and 1: every tick before day 1 noon)", n, err)
	}
}
