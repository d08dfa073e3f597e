package storetest

import (
	"math"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/findash/findash/internal/market"
)

// testTicksAfter: a keyset read after (ts, seq) returns the ticks after it
// in (ts, seq) order up to to, at most limit, whatever other ticks share
// the cursor's millisecond; seq MaxUint64 means after the whole
// millisecond.
func testTicksAfter(t *testing.T, s Store) {
	var ticks []market.Tick
	for i := range 6 { // seqs 10..15 at day0+1, then one tick at day0+2, day0+3
		ticks = append(ticks, market.Tick{Symbol: "AAA", TS: day0 + 1, Seq: uint64(10 + i), Price: 1, Size: 1})
	}
	ticks = append(ticks, market.Tick{Symbol: "AAA", TS: day0 + 2, Seq: 3, Price: 1, Size: 1},
		market.Tick{Symbol: "AAA", TS: day0 + 3, Seq: 1, Price: 1, Size: 1},
		market.Tick{Symbol: "BBB", TS: day0 + 1, Seq: 12, Price: 1, Size: 1})
	mustWrite(t, s, ticks, 1)
	for _, tc := range []struct {
		name     string
		afterTS  int64
		afterSeq uint64
		to       int64
		limit    int
		want     []market.Tick
	}{
		{"inside a millisecond", day0 + 1, 12, day0 + 3, 100, ticks[3:8]},
		{"limit within the millisecond", day0 + 1, 11, day0 + 3, 2, ticks[2:4]},
		{"limit past it", day0 + 1, 14, day0 + 3, 2, ticks[5:7]},
		{"after the whole millisecond", day0 + 1, math.MaxUint64, day0 + 3, 100, ticks[6:8]},
		{"to bounds", day0 + 1, 9, day0 + 2, 100, ticks[0:7]},
		{"to at the cursor's millisecond", day0 + 1, 13, day0 + 1, 100, ticks[4:6]},
		{"nothing after", day0 + 3, 1, day0 + 3, 100, nil},
	} {
		got, err := s.TicksAfter(t.Context(), "AAA", tc.afterTS, tc.afterSeq, tc.to, tc.limit)
		if err != nil {
			t.Fatalf("%s: TicksAfter() error: %v", tc.name, err)
		}
		if diff := gocmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: TicksAfter(%d, %d, %d, %d) (-want +got):\n%s", tc.name, tc.afterTS, tc.afterSeq, tc.to, tc.limit, diff)
		}
	}
}
