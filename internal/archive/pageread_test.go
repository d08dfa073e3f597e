package archive_test

import (
	"math"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/archive"
	"github.com/findash/findash/internal/market"
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
