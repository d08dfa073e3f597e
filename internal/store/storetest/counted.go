package storetest

import (
	"context"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
)

// emptyDayDropper is a store with per-day tick partitions (PostgreSQL).
type emptyDayDropper interface {
	DropEmptyTickDays(ctx context.Context, before int64) (int, error)
}

// testDeleteTicksCounted: a counted delete of one (symbol, day) removes
// the day's ticks of that symbol only when the count is the one asked,
// and nothing otherwise (what retention relies on when an import writes
// into a day being archived); other symbols and days stay. A store with
// day partitions drops the emptied ones, and only those.
func testDeleteTicksCounted(t *testing.T, s Store) {
	const day = 86_400_000
	d0 := day0 // midnight UTC
	ticks := []market.Tick{
		{Symbol: "AAA", TS: d0 + 1, Price: 1, Size: 1, Seq: 1},
		{Symbol: "AAA", TS: d0 + 2, Price: 1, Size: 1, Seq: 2},
		{Symbol: "AAA", TS: d0 + day - 1, Price: 1, Size: 1, Seq: 3},
		{Symbol: "AAA", TS: d0 + day, Price: 1, Size: 1, Seq: 4},
		{Symbol: "BBB", TS: d0 + 5, Price: 1, Size: 1, Seq: 5},
	}
	mustWrite(t, s, ticks, 1)
	ctx := t.Context()

	n, ok, err := s.DeleteTicksCounted(ctx, "AAA", d0, d0+day, 2)
	if err != nil || ok || n != 3 {
		t.Errorf("DeleteTicksCounted(AAA, day 0, want 2) = %d, %v, %v; want 3, false, nil", n, ok, err)
	}
	if got := allTicks(t, s, []string{"AAA", "BBB"}); len(got) != 5 {
		t.Fatalf("after a refused counted delete %d ticks stored, want 5", len(got))
	}
	n, ok, err = s.DeleteTicksCounted(ctx, "AAA", d0, d0+day, 3)
	if err != nil || !ok || n != 3 {
		t.Errorf("DeleteTicksCounted(AAA, day 0, want 3) = %d, %v, %v; want 3, true, nil", n, ok, err)
	}
	if diff := gocmp.Diff([]market.Tick{ticks[3], ticks[4]}, allTicks(t, s, []string{"AAA", "BBB"})); diff != "" {
		t.Errorf("ticks left (-want +got):\n%s", diff)
	}
	if n, ok, err := s.DeleteTicksCounted(ctx, "CCC", d0, d0+day, 0); err != nil || !ok || n != 0 {
		t.Errorf("DeleteTicksCounted(CCC, none, want 0) = %d, %v, %v; want 0, true, nil", n, ok, err)
	}

	dd, ok := s.(emptyDayDropper)
	if !ok {
		return
	}
	if n, err := dd.DropEmptyTickDays(ctx, d0+day); err != nil || n != 0 {
		t.Errorf("DropEmptyTickDays() with BBB left in day 0 = %d, %v; want 0, nil", n, err)
	}
	if _, ok, err := s.DeleteTicksCounted(ctx, "BBB", d0, d0+day, 1); err != nil || !ok {
		t.Fatalf("DeleteTicksCounted(BBB) = %v, %v", ok, err)
	}
	if n, err := dd.DropEmptyTickDays(ctx, d0+day); err != nil || n < 1 {
		t.Errorf("DropEmptyTickDays() of an emptied day 0 = %d, %v; want at least 1, nil", n, err)
	}
	mustWrite(t, s, []market.Tick{{Symbol: "BBB", TS: d0 + 7, Price: 1, Size: 1, Seq: 6}}, 2)
	if got := allTicks(t, s, []string{"AAA", "BBB"}); len(got) != 2 {
		t.Errorf("after a write into the dropped day %d ticks stored, want 2", len(got))
	}
}
