package sqlite_test

import (
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/store/sqlite"
)

// TestQueryPlans: every statement on ticks seeks its primary key (symbol,
// ts, seq) and none scans the table or sorts (decision 0076), and ticks has
// no other index for a tick insert to update.
func TestQueryPlans(t *testing.T) {
	db := mustOpen(t)
	if idx, err := db.TickIndexes(t.Context()); err != nil || len(idx) != 0 {
		t.Errorf("indexes of ticks besides its key = %q, %v; want none", idx, err)
	}
	want := map[string][]string{
		"ticksRange":       {"SEARCH ticks USING PRIMARY KEY (symbol=? AND ts>? AND ts<?)"},
		"ticksAfter":       {"SEARCH ticks USING PRIMARY KEY (symbol=? AND (ts,seq)>(?,?) AND ts<?)"},
		"deleteTicksRange": {"SEARCH ticks USING PRIMARY KEY (symbol=? AND ts>? AND ts<?)"},
		"deleteTicksChunk": {"SEARCH ticks USING PRIMARY KEY (symbol=? AND ts=? AND seq=?)", "LIST SUBQUERY 2",
			"SEARCH ticks USING PRIMARY KEY (symbol=? AND ts<?)"},
	}
	for name, q := range sqlite.TickQueries {
		plan, err := db.QueryPlan(t.Context(), q, "AAA", int64(1), int64(2), int64(3), int64(4))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, step := range plan {
			if strings.Contains(step, "SCAN ticks") || strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("%s: plan %q scans ticks or sorts", name, plan)
			}
		}
		if w, ok := want[name]; ok {
			if diff := gocmp.Diff(w, plan); diff != "" {
				t.Errorf("%s: plan (-want +got):\n%s", name, diff)
			}
		} else if !slices.ContainsFunc(plan, func(s string) bool { return strings.HasPrefix(s, "SEARCH ticks USING PRIMARY KEY") }) {
			t.Errorf("%s: plan %q does not seek the primary key", name, plan)
		}
	}
	if len(sqlite.TickQueries) < len(want) {
		t.Errorf("TickQueries has %d statements, want at least %d", len(sqlite.TickQueries), len(want))
	}
}
