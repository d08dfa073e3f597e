package archive_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/findash/findash/internal/archive"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/objstore"
	"github.com/findash/findash/internal/store/sqlite"
)

// objects is what the archive needs of a store, plus Delete, which both
// objstore stores have.
type objects interface {
	archive.Objects
	Delete(ctx context.Context, key string) error
}

// day0 is 2026-11-02T00:00:00Z, a Monday.
var day0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).UnixMilli()

const dayMs = 24 * 60 * 60 * 1000

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "findash.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// write stores ticks (with their candles) as the persister would.
func write(t *testing.T, db *sqlite.DB, ticks []market.Tick) {
	t.Helper()
	r := market.NewRollup()
	for i := range ticks {
		r.Add(&ticks[i])
	}
	pos, err := db.LogPosition(t.Context(), market.Unpartitioned)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.WriteBatch(t.Context(), market.Unpartitioned, ticks, r.Candles(), 0, pos+1, pos+1); err != nil {
		t.Fatalf("WriteBatch(%d ticks) error: %v", len(ticks), err)
	}
}

// gen makes n trades of symbol spread over the day starting at day: a
// random walk of prices with 2 decimals, sizes of 4 decimals, several
// trades in some milliseconds, seqs increasing from seq0.
func gen(symbol string, day int64, n int, seq0 uint64, seed uint64) []market.Tick {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]market.Tick, n)
	price := 43000.0
	ts := day + 1
	step := int64(dayMs/n) * 2
	for i := range out {
		if rng.IntN(4) != 0 { // a quarter of trades share the previous ms
			ts += 1 + rng.Int64N(max(1, step-1))
		}
		ts = min(ts, day+dayMs-1)
		price = math.Round((price+rng.NormFloat64()*3)*100) / 100
		size := math.Round(rng.ExpFloat64()*0.05*1e4) / 1e4
		out[i] = market.Tick{Symbol: symbol, TS: ts, Price: price, Size: max(size, 0.0001), Seq: seq0 + uint64(i)}
	}
	return out
}

func newLocal(t *testing.T) (objects, string) {
	dir := t.TempDir()
	l, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return l, dir
}

// newS3 starts gofakes3 (in-memory) on a loopback server and opens a bucket.
func newS3(t *testing.T) objects {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	s, err := objstore.NewS3(objstore.S3Config{Endpoint: srv.URL, Bucket: "archive",
		AccessKey: "findash", SecretKey: "findash-secret", Region: "us-east-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func stores(t *testing.T) []struct {
	name string
	open func(t *testing.T) objects
} {
	return []struct {
		name string
		open func(t *testing.T) objects
	}{
		{"disk", func(t *testing.T) objects { o, _ := newLocal(t); return o }},
		{"s3", newS3},
	}
}

func stored(t *testing.T, db *sqlite.DB, symbol string, from, to int64) []market.Tick {
	t.Helper()
	got, err := db.Ticks(t.Context(), symbol, from, to, 10_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func read(t *testing.T, o archive.Objects, key string) []byte {
	t.Helper()
	rc, err := o.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%s) error: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRoundTrip archives three days of three symbols (one with a slash)
// on disk and on S3, reads every tick back through the archive and checks
// the manifests; a second run writes the same objects.
func TestRoundTrip(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			db := openDB(t)
			objs := st.open(t)
			syms := []string{"BTC-USD", "ETH-USD", "EUR/USD"}
			for d := range 3 {
				for i, s := range syms {
					if s == "ETH-USD" && d == 1 {
						continue // a day without trades of a symbol
					}
					write(t, db, gen(s, day0+int64(d)*dayMs, 3000+i*500, uint64(d*100_000+1), uint64(d*10+i)))
				}
			}
			// Small row groups and files: several of each.
			a := archive.New(objs, db, archive.Config{RowGroupRows: 500, MaxFileRows: 1600, PageRows: 700}, nil, nil)
			cut := day0 + 2*dayMs + 5 // inside day 2: days 0 and 1 are archived
			res, err := a.ArchiveBefore(t.Context(), cut, false)
			if err != nil {
				t.Fatalf("ArchiveBefore() error: %v", err)
			}
			if res.Until != day0+2*dayMs {
				t.Errorf("Until = %d, want %d (the start of cut's day)", res.Until, day0+2*dayMs)
			}
			var got []string
			for _, w := range res.Written {
				got = append(got, w.Date+" "+w.Symbol)
			}
			want := []string{"2026-11-02 BTC-USD", "2026-11-02 ETH-USD", "2026-11-02 EUR/USD", "2026-11-03 BTC-USD", "2026-11-03 EUR/USD"}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Fatalf("Written (-want +got):\n%s", diff)
			}
			for _, w := range res.Written {
				if len(w.Files) < 2 {
					t.Errorf("%s %s: %d files, want several (MaxFileRows 1600)", w.Date, w.Symbol, len(w.Files))
				}
				if !strings.HasPrefix(w.Files[0].Key, "ticks/date="+w.Date+"/symbol=") {
					t.Errorf("key %s is not Hive-style", w.Files[0].Key)
				}
			}
			if k := res.Written[2].Files[0].Key; !strings.Contains(k, "/symbol=EUR%2FUSD/part-0000-") {
				t.Errorf("EUR/USD key = %s, want symbol=EUR%%2FUSD/part-0000-…", k)
			}
			for _, s := range syms {
				from, to := day0, day0+2*dayMs-1
				arch, err := a.Ticks(t.Context(), s, from, to, 1<<20)
				if err != nil {
					t.Fatalf("Ticks(%s) error: %v", s, err)
				}
				if diff := gocmp.Diff(stored(t, db, s, from, to), arch); diff != "" {
					t.Errorf("archived ticks of %s differ from the stored (-stored +archive):\n%s", s, diff)
				}
				// A range inside a day, with a limit.
				mid := day0 + dayMs/2
				part, err := a.Ticks(t.Context(), s, mid, mid+dayMs, 100)
				if err != nil {
					t.Fatal(err)
				}
				if diff := gocmp.Diff(stored(t, db, s, mid, mid+dayMs)[:100], part); diff != "" {
					t.Errorf("Ticks(%s, a range, limit 100) (-stored +archive):\n%s", s, diff)
				}
			}
			// The day of cut is not archived.
			if arch, err := a.Ticks(t.Context(), "BTC-USD", day0+2*dayMs, day0+3*dayMs, 0); err != nil || len(arch) != 0 {
				t.Errorf("Ticks(day 2) = %d ticks, %v; want none", len(arch), err)
			}
			m0 := read(t, objs, "ticks/date=2026-11-02/manifest.json")
			man, err := archive.ParseManifest(m0, "2026-11-02", 0)
			if err != nil {
				t.Fatalf("ParseManifest() error: %v", err)
			}
			if len(man.Symbols) != 3 || man.Symbols[0].Rows != 3000 || man.Symbols[2].Symbol != "EUR/USD" {
				t.Errorf("manifest = %+v", man)
			}
			// Again: the same entries, the same manifest bytes.
			res2, err := a.ArchiveBefore(t.Context(), cut, false)
			if err != nil {
				t.Fatalf("ArchiveBefore() again error: %v", err)
			}
			if diff := gocmp.Diff(res.Written, res2.Written); diff != "" {
				t.Errorf("a second run wrote other entries (-first +second):\n%s", diff)
			}
			if m := read(t, objs, "ticks/date=2026-11-02/manifest.json"); !bytes.Equal(m, m0) {
				t.Errorf("a second run changed the manifest:\n%s\nwas\n%s", m, m0)
			}
		})
	}
}

// TestLateTickMerged: a tick that arrives for a day already archived (and
// deleted from the database) is merged into the day's entry on the next
// run: the entry is replaced, nothing is listed twice, and the replaced
// part is deleted.
func TestLateTickMerged(t *testing.T) {
	db := openDB(t)
	objs, dir := newLocal(t)
	a := archive.New(objs, db, archive.Config{}, nil, nil)
	ticks := gen("BTC-USD", day0, 2000, 1, 1)
	write(t, db, ticks)
	res, err := a.ArchiveBefore(t.Context(), day0+dayMs, false)
	if err != nil || len(res.Written) != 1 {
		t.Fatalf("ArchiveBefore() = %+v, %v", res, err)
	}
	oldKey := res.Written[0].Files[0].Key
	if _, err := db.DeleteTicksBefore(t.Context(), res.Until); err != nil {
		t.Fatal(err)
	}
	late := market.Tick{Symbol: "BTC-USD", TS: ticks[1000].TS, Seq: 900_000, Price: 1, Size: 1}
	write(t, db, []market.Tick{late})
	res, err = a.ArchiveBefore(t.Context(), day0+dayMs, false)
	if err != nil || len(res.Written) != 1 {
		t.Fatalf("ArchiveBefore() with a late tick = %+v, %v", res, err)
	}
	if e := res.Written[0]; e.Rows != 2001 || len(e.Files) != 1 || e.MaxSeq != 900_000 {
		t.Errorf("entry after a late tick = %d rows, %d files, max seq %d; want 2001, 1, 900000", e.Rows, len(e.Files), e.MaxSeq)
	}
	want := append(slices.Clone(ticks), late)
	slices.SortFunc(want, func(x, y market.Tick) int {
		if x.Before(&y) {
			return -1
		}
		return 1
	})
	got, err := a.Ticks(t.Context(), "BTC-USD", day0, day0+dayMs-1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("archive after the late tick (-want +got):\n%s", diff)
	}
	if _, err := objs.Open(t.Context(), oldKey); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("the replaced part %s is still there (Open error %v)", oldKey, err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "ticks", "date=2026-11-02", "symbol=BTC-USD", "*.parquet"))
	if len(matches) != 1 {
		t.Errorf("%d parts on disk, want 1: %v", len(matches), matches)
	}
}

// TestSameMillisecondPage: more ticks in one millisecond than a store
// page holds are all archived, once each.
func TestSameMillisecondPage(t *testing.T) {
	db := openDB(t)
	objs, _ := newLocal(t)
	var ticks []market.Tick
	for i := range 250 {
		ticks = append(ticks, market.Tick{Symbol: "X", TS: day0 + 10 + int64(i/120), Seq: uint64(i + 1), Price: 1 + float64(i)/100, Size: 1})
	}
	write(t, db, ticks)
	a := archive.New(objs, db, archive.Config{PageRows: 50}, nil, nil)
	if _, err := a.ArchiveBefore(t.Context(), day0+dayMs, false); err != nil {
		t.Fatal(err)
	}
	got, err := a.Ticks(t.Context(), "X", day0, day0+dayMs, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(ticks, got); diff != "" {
		t.Errorf("archived (-stored +archive):\n%s", diff)
	}
}

// TestDryRun writes nothing and says what it would write.
func TestDryRun(t *testing.T) {
	db := openDB(t)
	objs, dir := newLocal(t)
	write(t, db, gen("BTC-USD", day0, 100, 1, 1))
	a := archive.New(objs, db, archive.Config{}, nil, nil)
	res, err := a.ArchiveBefore(t.Context(), day0+3*dayMs, true)
	if err != nil || len(res.Written) != 1 || res.Written[0].Rows != 100 {
		t.Fatalf("ArchiveBefore(dry run) = %+v, %v", res, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("a dry run wrote %v", m)
	}
}

// failing fails the Put of keys with a suffix, or every Open after a Put
// of one, to stand for an object store that breaks midway.
type failing struct {
	objects
	putSuffix string
	corrupt   bool // Open returns other bytes than were put
}

func (f *failing) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if f.putSuffix != "" && strings.HasSuffix(key, f.putSuffix) {
		return 0, errors.New("bucket on fire")
	}
	return f.objects.Put(ctx, key, r)
}

func (f *failing) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := f.objects.Open(ctx, key)
	if err != nil || !f.corrupt || !strings.HasSuffix(key, ".parquet") {
		return rc, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	b[len(b)/2] ^= 0xff
	return io.NopCloser(bytes.NewReader(b)), nil
}

// TestFailureStopsAtTheDay: a manifest that cannot be written, or a part
// that reads back other than written, fails the run with Until at the start
// of the failed day, so a caller deletes nothing of it.
func TestFailureStopsAtTheDay(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    failing
	}{
		{"manifest put fails", failing{putSuffix: "date=2026-11-03/manifest.json"}},
		{"part reads back corrupt", failing{corrupt: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			o, _ := newLocal(t)
			f := tc.f
			f.objects = o
			write(t, db, gen("BTC-USD", day0, 100, 1, 1))
			write(t, db, gen("BTC-USD", day0+dayMs, 100, 1000, 2))
			a := archive.New(&f, db, archive.Config{}, nil, nil)
			res, err := a.ArchiveBefore(t.Context(), day0+5*dayMs, false)
			if err == nil {
				t.Fatal("ArchiveBefore() error = nil")
			}
			want := day0 + dayMs // day 0 archived, day 1 failed
			if f.corrupt {
				want = day0
			}
			if res.Until != want {
				t.Errorf("Until = %d, want %d", res.Until, want)
			}
		})
	}
}
