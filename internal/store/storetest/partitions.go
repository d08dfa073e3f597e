package storetest

import (
	"errors"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/market"
)

// writePart writes ticks as the batch fromSeq..logSeq of partition part.
func writePart(t *testing.T, s Store, part int, ticks []market.Tick, fromSeq, logSeq uint64) error {
	t.Helper()
	return s.WriteBatch(t.Context(), part, ticks, rollup(ticks), 0, fromSeq, logSeq)
}

func positionOf(t *testing.T, s Store, part int) uint64 {
	t.Helper()
	pos, err := s.LogPosition(t.Context(), part)
	if err != nil {
		t.Fatalf("LogPosition(%d) error: %v", part, err)
	}
	return pos
}

// testPartitionPositions: each partition keeps its own position (decision
// 0042): a batch of one partition is neither refused nor skipped because
// of another's position; a partition inherits the unpartitioned position
// (the switch from an unpartitioned log); the unpartitioned position reads
// as the largest; RestoreState returns them all.
func testPartitionPositions(t *testing.T, s Store) {
	for _, p := range []int{market.Unpartitioned, 0, 3} {
		if got := positionOf(t, s, p); got != 0 {
			t.Fatalf("LogPosition(%d) on an empty store = %d, want 0", p, got)
		}
	}
	// Before the switch: the unpartitioned log up to 10.
	old := []market.Tick{{Symbol: "AAA", TS: day0 + 1, Price: 10, Size: 1, Seq: 10 << 16}}
	if err := writePart(t, s, market.Unpartitioned, old, 1, 10); err != nil {
		t.Fatalf("WriteBatch(-1, 1..10) error: %v", err)
	}
	if got := positionOf(t, s, 3); got != 10 {
		t.Errorf("LogPosition(3) after the unpartitioned log reached 10 = %d, want 10 (inherited)", got)
	}
	// A partition's batch at or below the inherited position was written
	// by the unpartitioned persister.
	if err := writePart(t, s, 0, old, 10, 10); err != nil {
		t.Fatalf("WriteBatch(0, 10..10) error: %v", err)
	}
	// After the switch: partition 0 holds BBB, partition 1 CCC; their
	// messages interleave in the log.
	bbb := []market.Tick{
		{Symbol: "BBB", TS: day0 + 2, Price: 5, Size: 1, Seq: 11 << 16},
		{Symbol: "BBB", TS: day0 + 4, Price: 6, Size: 1, Seq: 14 << 16},
	}
	ccc := []market.Tick{{Symbol: "CCC", TS: day0 + 3, Price: 7, Size: 2, Seq: 12 << 16}}
	if err := writePart(t, s, 0, bbb, 11, 14); err != nil {
		t.Fatalf("WriteBatch(0, 11..14) error: %v", err)
	}
	// Below partition 0's position, but partition 1's own: applied.
	if err := writePart(t, s, 1, ccc, 12, 12); err != nil {
		t.Fatalf("WriteBatch(1, 12..12) after partition 0 reached 14 error: %v", err)
	}
	for p, want := range map[int]uint64{0: 14, 1: 12, 2: 10, market.Unpartitioned: 14} {
		if got := positionOf(t, s, p); got != want {
			t.Errorf("LogPosition(%d) = %d, want %d", p, got, want)
		}
	}
	// Partition 0: a redelivery changes nothing, an overlap is refused.
	if err := writePart(t, s, 0, bbb, 11, 14); err != nil {
		t.Errorf("WriteBatch(0, 11..14) again error: %v", err)
	}
	more := []market.Tick{{Symbol: "BBB", TS: day0 + 5, Price: 8, Size: 1, Seq: 15 << 16}}
	if err := writePart(t, s, 0, more, 14, 15); !errors.Is(err, market.ErrConflict) {
		t.Errorf("WriteBatch(0, 14..15) over position 14 error = %v, want ErrConflict", err)
	}
	// Partition 2 has written nothing, but inherits 10: a batch at 1 is
	// skipped (the count below shows it).
	if err := writePart(t, s, 2, more, 1, 1); err != nil {
		t.Errorf("WriteBatch(2, 1..1) below the inherited position error = %v, want none", err)
	}
	if err := writePart(t, s, -2, more, 16, 16); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("WriteBatch(partition -2) error = %v, want ErrInvalid", err)
	}
	// Every tick once, every candle counted once.
	for sym, want := range map[string]int{"AAA": 1, "BBB": 2, "CCC": 1} {
		ticks, err := s.Ticks(t.Context(), sym, market.MinTS, market.MaxTS, 100)
		if err != nil || len(ticks) != want {
			t.Errorf("Ticks(%s) = %d ticks, %v; want %d", sym, len(ticks), err, want)
		}
		cs, err := s.Candles(t.Context(), market.CandleQuery{Symbol: sym, Interval: market.Interval1d, From: market.MinTS, To: market.MaxTS, Limit: 10})
		if err != nil || len(cs) != 1 || cs[0].Count != int64(want) {
			t.Errorf("Candles(%s 1d) = %+v, %v; want one of %d ticks", sym, cs, err, want)
		}
	}
	_, pos, err := s.RestoreState(t.Context())
	if err != nil {
		t.Fatalf("RestoreState() error: %v", err)
	}
	if diff := gocmp.Diff(market.Positions{market.Unpartitioned: 10, 0: 14, 1: 12}, pos); diff != "" {
		t.Errorf("RestoreState() positions (-want +got):\n%s", diff)
	}
}

// testCommitAlertsByPartition: the alert evaluators of two partitions
// commit independently; each refuses only its own older positions.
func testCommitAlertsByPartition(t *testing.T, s AlertStore) {
	ctx := t.Context()
	ann := userOf(t, s, "ann@example.com")
	a := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "AAA", Condition: alert.Above, Threshold: 10, Notify: []string{"email"}, CreatedAt: created})
	b := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "BBB", Condition: alert.Above, Threshold: 10, Notify: []string{"email"}, CreatedAt: created})
	commitPart := func(part int, logSeq uint64, fired ...alert.Event) (int, bool) {
		t.Helper()
		ins, _, ok, err := s.CommitAlerts(ctx, part, 0, logSeq, fired, nil)
		if err != nil {
			t.Fatalf("CommitAlerts(%d, %d) error: %v", part, logSeq, err)
		}
		return len(ins), ok
	}
	if n, ok := commitPart(0, 5, event(a, 5<<16, 11)); n != 1 || !ok {
		t.Errorf("CommitAlerts(0, 5) = %d inserted, %v; want 1, applied", n, ok)
	}
	// Partition 1 is behind partition 0: its commit is its own.
	if n, ok := commitPart(1, 3, event(b, 3<<16, 12)); n != 1 || !ok {
		t.Errorf("CommitAlerts(1, 3) = %d inserted, %v; want 1, applied", n, ok)
	}
	if n, ok := commitPart(0, 4, event(a, 4<<16, 13)); n != 0 || ok {
		t.Errorf("CommitAlerts(0, 4) below partition 0's position = %d inserted, %v; want nothing", n, ok)
	}
	for p, want := range map[int]uint64{0: 5, 1: 3, 2: 0, market.Unpartitioned: 5} {
		if got, err := s.AlertPosition(ctx, p); err != nil || got != want {
			t.Errorf("AlertPosition(%d) = %d, %v; want %d", p, got, err, want)
		}
	}
	if _, _, _, err := s.CommitAlerts(ctx, -2, 0, 9, nil, nil); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("CommitAlerts(partition -2) error = %v, want ErrInvalid", err)
	}
}

// testCommitAlertsBehind: a commit whose evaluator had committed (or read)
// a position above the stored one — the database lost commits, as after a
// failover to an asynchronous standby — is refused with ErrBehind and
// changes nothing: no event, no armed state, no position. Committed again
// from the stored position, it applies. Per partition, as the persister's
// WriteBatchBehind.
func testCommitAlertsBehind(t *testing.T, s AlertStore) {
	ctx := t.Context()
	ann := userOf(t, s, "ann@example.com")
	a := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "AAA", Condition: alert.Above, Threshold: 10, Notify: []string{"email"}, CreatedAt: created})
	fired := []alert.Event{event(a, 6<<16, 11)}
	disarmed := []alert.ArmedChange{{AlertID: a.ID, Armed: false, LastFiredTS: day0}}
	commitPart := func(part int, prev, logSeq uint64, fired []alert.Event, armed []alert.ArmedChange) (int, bool, error) {
		t.Helper()
		ins, _, ok, err := s.CommitAlerts(ctx, part, prev, logSeq, fired, armed)
		return len(ins), ok, err
	}
	if n, ok, err := commitPart(market.Unpartitioned, 0, 3, nil, nil); err != nil || n != 0 || !ok {
		t.Fatalf("CommitAlerts(after 0, 3) = %d, %v, %v; want applied", n, ok, err)
	}
	// The evaluator had committed up to 5; the database holds 3.
	if n, ok, err := commitPart(market.Unpartitioned, 5, 6, fired, disarmed); !errors.Is(err, market.ErrBehind) || n != 0 || ok {
		t.Fatalf("CommitAlerts(after 5, 6) at position 3 = %d, %v, %v; want nothing, ErrBehind", n, ok, err)
	}
	if got, err := s.AlertPosition(ctx, market.Unpartitioned); err != nil || got != 3 {
		t.Errorf("AlertPosition() after a commit refused as behind = %d, %v; want 3", got, err)
	}
	if evs, err := s.AlertEvents(ctx, ann, 0, 10); err != nil || len(evs) != 0 {
		t.Errorf("AlertEvents() after a commit refused as behind = %+v, %v; want none", evs, err)
	}
	if all, _, err := s.EvaluatedAlerts(ctx); err != nil || len(all) != 1 || !all[0].Armed || all[0].LastFiredTS != 0 {
		t.Errorf("EvaluatedAlerts() after a commit refused as behind = %+v, %v; want the alert armed, never fired", all, err)
	}
	// Evaluated again from the stored position: applied.
	if n, ok, err := commitPart(market.Unpartitioned, 3, 6, fired, disarmed); err != nil || n != 1 || !ok {
		t.Fatalf("CommitAlerts(after 3, 6) = %d, %v, %v; want 1 inserted, applied", n, ok, err)
	}
	// Partition 1 inherits 6 and stores its own 8; partition 0's evaluator
	// had committed 9 but partition 0 holds 6 (inherited).
	if n, ok, err := commitPart(1, 6, 8, nil, nil); err != nil || n != 0 || !ok {
		t.Fatalf("CommitAlerts(1, after 6 inherited, 8) = %d, %v, %v; want applied", n, ok, err)
	}
	if _, _, err := commitPart(0, 9, 10, nil, nil); !errors.Is(err, market.ErrBehind) {
		t.Errorf("CommitAlerts(0, after 9, 10) at partition 0's 6 error = %v, want ErrBehind", err)
	}
	if _, _, err := commitPart(1, 8, 10, nil, nil); err != nil {
		t.Errorf("CommitAlerts(1, after 8, 10) error = %v", err)
	}
	for p, want := range map[int]uint64{0: 6, 1: 10} {
		if got, err := s.AlertPosition(ctx, p); err != nil || got != want {
			t.Errorf("AlertPosition(%d) = %d, %v; want %d", p, got, err, want)
		}
	}
}
