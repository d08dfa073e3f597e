package archive_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/archive"
	"github.com/findash/findash/internal/objstore"
	"github.com/findash/findash/internal/store/sqlite"
)

// BenchmarkReadPage reads pages of 1,000 ticks from an archived day of
// 1M ticks of one symbol on disk, as GET /api/v1/ticks/{symbol} does past
// the retention: "mid-day" is one page from the middle of the day (one
// page decoded), "scan" pages through the whole day; "store-mid-day" is
// the same page from SQLite, the baseline. It reports the part bytes
// fetched per page.
func BenchmarkReadPage(b *testing.B) {
	db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "findash.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	ticks := gen("BTC-USD", day0, 1_000_000, 1, 1)
	for i := 0; i < len(ticks); i += 100_000 {
		if _, err := db.ImportTicks(b.Context(), "bench", ticks[i:i+100_000]); err != nil {
			b.Fatal(err)
		}
	}
	objs, err := objstore.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a := archive.New(objs, db, archive.Config{}, nil, reg)
	if _, err := a.ArchiveBefore(b.Context(), day0+dayMs, false); err != nil {
		b.Fatal(err)
	}
	b.Run("mid-day", func(b *testing.B) {
		mid := ticks[len(ticks)/2]
		before := readBytes(b, reg)
		for b.Loop() {
			p, err := a.ReadPage(b.Context(), "BTC-USD", mid.TS, mid.Seq, day0+dayMs-1, 1000, archive.PageLimits{})
			if err != nil || len(p.Ticks) != 1000 {
				b.Fatalf("ReadPage() = %d ticks, %v", len(p.Ticks), err)
			}
		}
		b.ReportMetric((readBytes(b, reg)-before)/float64(b.N), "bytes/page")
	})
	// The baseline: the same page from the database (within the retention).
	b.Run("store-mid-day", func(b *testing.B) {
		mid := ticks[len(ticks)/2]
		for b.Loop() {
			ts, err := db.Ticks(b.Context(), "BTC-USD", mid.TS, day0+dayMs-1, 1001)
			if err != nil || len(ts) < 1000 {
				b.Fatalf("Ticks() = %d ticks, %v", len(ts), err)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		var n int
		for b.Loop() {
			n = 0
			afterTS, afterSeq := day0-1, uint64(math.MaxUint64)
			for {
				p, err := a.ReadPage(b.Context(), "BTC-USD", afterTS, afterSeq, day0+dayMs-1, 1000, archive.PageLimits{})
				if err != nil {
					b.Fatal(err)
				}
				n += len(p.Ticks)
				if !p.Cut && len(p.Ticks) < 1000 {
					break
				}
				afterTS, afterSeq = p.PosTS, p.PosSeq
			}
			if n != len(ticks) {
				b.Fatalf("scan read %d ticks, want %d", n, len(ticks))
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
	})
}

// readBytes is findash_archive_read_bytes_total now.
func readBytes(b *testing.B, reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "findash_archive_read_bytes_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	b.Fatal("no findash_archive_read_bytes_total")
	return 0
}
