package archive_test

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/archive"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// TestReadPage pages through two archived days of a symbol on disk and
// on S3 (ranged reads, row groups of 1,000 rows), in pages of 777 ticks,
// and with a row limit that cuts every read short: either way the pages
// joined are the archived ticks of the range, each once, in order; a
// range inside one row group reads only that group.
func TestReadPage(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			db := openDB(t)
			ticks := append(gen("BTC-USD", day0, 5000, 1, 1), gen("BTC-USD", day0+dayMs, 3000, 10_000, 2)...)
			write(t, db, ticks)
			write(t, db, gen("ETH-USD", day0, 100, 1, 3))
			a := archive.New(st.open(t), db, archive.Config{RowGroupRows: 1000, MaxFileRows: 2000}, nil, nil)
			if _, err := a.ArchiveBefore(t.Context(), day0+2*dayMs, false); err != nil {
				t.Fatal(err)
			}
			from, to := ticks[10].TS, ticks[7000].TS
			var want []market.Tick
			for _, x := range ticks {
				if x.TS >= from && x.TS <= to {
					want = append(want, x)
				}
			}
			for _, tc := range []struct {
				name string
				lim  archive.PageLimits
				cuts bool
			}{{"pages", archive.PageLimits{}, false}, {"row limit", archive.PageLimits{MaxRows: 500}, true}} {
				afterTS, afterSeq := from-1, uint64(math.MaxUint64)
				var got []market.Tick
				cuts := 0
				for range 1000 {
					p, err := a.ReadPage(t.Context(), "BTC-USD", afterTS, afterSeq, to, 777, tc.lim)
					if err != nil {
						t.Fatalf("%s: ReadPage() error: %v", tc.name, err)
					}
					got = append(got, p.Ticks...)
					if p.Cut {
						cuts++
						if p.Limit != "rows" {
							t.Fatalf("%s: cut by %q, want rows", tc.name, p.Limit)
						}
					}
					if !p.Cut && len(p.Ticks) < 777 {
						break
					}
					afterTS, afterSeq = p.PosTS, p.PosSeq
				}
				if diff := gocmp.Diff(want, got); diff != "" {
					t.Errorf("%s: pages joined (-want +got):\n%s", tc.name, diff)
				}
				if (cuts > 0) != tc.cuts {
					t.Errorf("%s: %d reads cut, want cuts %v", tc.name, cuts, tc.cuts)
				}
			}
			// Ticks 100-199 lie in the first row group: one group decoded.
			p, err := a.ReadPage(t.Context(), "BTC-USD", ticks[100].TS-1, math.MaxUint64, ticks[199].TS, 1000, archive.PageLimits{MaxRows: 1000})
			if err != nil || p.Cut || len(p.Ticks) < 100 {
				t.Errorf("ReadPage(one row group, MaxRows 1000) = %d ticks, cut %v (%s), %v; want ≥ 100, not cut", len(p.Ticks), p.Cut, p.Limit, err)
			}
		})
	}
}

// TestReadPageSeeks: in a part of 300,000 ticks (row groups of 262,144,
// several pages each), a page read from anywhere starts at the page the
// page index names and still returns exactly the ticks after the
// position, in order.
func TestReadPageSeeks(t *testing.T) {
	db := openDB(t)
	ticks := gen("BTC-USD", day0, 300_000, 1, 5)
	write(t, db, ticks)
	o, _ := newLocal(t)
	a := archive.New(o, db, archive.Config{}, nil, nil)
	if _, err := a.ArchiveBefore(t.Context(), day0+dayMs, false); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 77_777, 150_000, 262_143, 262_144, 299_000} {
		after := ticks[i]
		p, err := a.ReadPage(t.Context(), "BTC-USD", after.TS, after.Seq, day0+dayMs-1, 1000, archive.PageLimits{})
		if err != nil {
			t.Fatalf("ReadPage(after tick %d) error: %v", i, err)
		}
		want := ticks[i+1 : min(len(ticks), i+1001)]
		if diff := gocmp.Diff(want, p.Ticks); diff != "" {
			t.Errorf("ReadPage(after tick %d) (-want +got):\n%s", i, diff)
		}
	}
}

// A manifest that does not parse is the archive's fault: ReadPage's error
// is neither market.ErrInvalid (the API's 400) nor ErrUnavailable (503),
// so the API answers 500.
func TestReadPageBrokenManifest(t *testing.T) {
	db := openDB(t)
	write(t, db, gen("BTC-USD", day0, 100, 1, 1))
	objs, _ := newLocal(t)
	a := archive.New(objs, db, archive.Config{}, nil, nil)
	if _, err := a.ArchiveBefore(t.Context(), day0+dayMs, false); err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{"{not json", strings.Repeat(" ", 5<<20)} { // garbage; over the 4 MiB limit
		if _, err := objs.Put(t.Context(), "ticks/date=2026-11-02/manifest.json", strings.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		_, err := a.ReadPage(t.Context(), "BTC-USD", day0-1, math.MaxUint64, day0+dayMs-1, 100, archive.PageLimits{})
		if err == nil || errors.Is(err, market.ErrInvalid) || errors.Is(err, market.ErrUnavailable) {
			t.Errorf("ReadPage() over a broken manifest (%d bytes) error = %v; want one that is neither ErrInvalid nor ErrUnavailable", len(data), err)
		}
	}
}

// rearchiving archives BTC-USD's day0 again (a late tick makes its part
// new, and the old part is deleted) just before ReadPage opens the part the
// manifest it read lists: a read racing a re-archive.
type rearchiving struct {
	objects
	t           *testing.T
	db          *sqlite.DB
	a           *archive.Archiver
	armed, done bool
}

func (r *rearchiving) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if r.armed && !r.done && strings.HasSuffix(key, ".parquet") {
		r.done = true
		r.armed = false
		write(r.t, r.db, []market.Tick{{Symbol: "BTC-USD", TS: day0 + 5, Seq: 1 << 40, Price: 1, Size: 1}})
		if _, err := r.a.ArchiveDay(ctx, "BTC-USD", day0); err != nil {
			r.t.Errorf("ArchiveDay() error: %v", err)
		}
	}
	return r.objects.Open(ctx, key)
}

// A part deleted by a re-archive while a page read it is a 503 to retry
// (the manifest read again lists other parts), not a corrupt archive; a
// part missing that the manifest still lists is corrupt.
func TestReadPagePartReplaced(t *testing.T) {
	db := openDB(t)
	write(t, db, gen("BTC-USD", day0, 100, 1, 1))
	local, dir := newLocal(t)
	r := &rearchiving{objects: local, t: t, db: db}
	r.a = archive.New(r, db, archive.Config{}, nil, nil)
	if _, err := r.a.ArchiveBefore(t.Context(), day0+dayMs, false); err != nil {
		t.Fatal(err)
	}
	r.armed = true
	_, err := r.a.ReadPage(t.Context(), "BTC-USD", day0-1, math.MaxUint64, day0+dayMs-1, 1000, archive.PageLimits{})
	if !r.done {
		t.Fatal("the part was never opened: the test does not test the race")
	}
	if !errors.Is(err, market.ErrUnavailable) {
		t.Errorf("ReadPage() racing a re-archive error = %v, want ErrUnavailable", err)
	}
	p, err := r.a.ReadPage(t.Context(), "BTC-USD", day0-1, math.MaxUint64, day0+dayMs-1, 1000, archive.PageLimits{})
	if err != nil || len(p.Ticks) != 101 {
		t.Errorf("ReadPage() retried = %d ticks, %v; want 101, nil", len(p.Ticks), err)
	}
	parts, err := filepath.Glob(filepath.Join(dir, "ticks", "date=2026-11-02", "symbol=BTC-USD", "*.parquet"))
	if err != nil || len(parts) != 1 {
		t.Fatalf("parts = %v, %v; want one", parts, err)
	}
	if err := os.Remove(parts[0]); err != nil {
		t.Fatal(err)
	}
	_, err = r.a.ReadPage(t.Context(), "BTC-USD", day0-1, math.MaxUint64, day0+dayMs-1, 1000, archive.PageLimits{})
	if err == nil || errors.Is(err, market.ErrUnavailable) || errors.Is(err, market.ErrInvalid) {
		t.Errorf("ReadPage() of a part missing for good error = %v; want corrupt (neither ErrUnavailable nor ErrInvalid)", err)
	}
}
