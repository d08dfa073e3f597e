package storetest

import (
	"errors"
	"testing"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/market"
)

// testAdvanceIdle: an evaluator holding no alert moves its position with
// AdvanceIdle only while no alert exists (a paused one counts), and
// CreateAlert stores a known CreatedSeq at least at the largest alert
// position of any partition (decision 0078).
func testAdvanceIdle(t *testing.T, s AlertStore) {
	ctx := t.Context()
	ann := userOf(t, s, "ann@example.com")
	advance := func(part int, prev, seq uint64, wantAlerts bool, wantPos uint64) {
		t.Helper()
		alerts, err := s.AdvanceIdle(ctx, part, prev, seq)
		if err != nil || alerts != wantAlerts {
			t.Fatalf("AdvanceIdle(%d, %d, %d) = %v, %v; want %v, nil", part, prev, seq, alerts, err, wantAlerts)
		}
		if pos, err := s.AlertPosition(ctx, part); err != nil || pos != wantPos {
			t.Fatalf("after AdvanceIdle(%d, %d, %d): AlertPosition() = %d, %v; want %d", part, prev, seq, pos, err, wantPos)
		}
	}
	advance(market.Unpartitioned, 0, 10, false, 10)
	advance(market.Unpartitioned, 10, 5, false, 10) // not above: unchanged
	if _, err := s.AdvanceIdle(ctx, market.Unpartitioned, 11, 20); !errors.Is(err, market.ErrBehind) {
		t.Fatalf("AdvanceIdle(prev 11 above the stored 10) error = %v, want ErrBehind", err)
	}

	// The log head the API read (3) is below the stored position (10): the
	// alert is stored at 10, the messages up to it are before its creation.
	a := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "AAA", Condition: alert.Above, Threshold: 1, Notify: []string{}, CreatedAt: created, CreatedSeq: 3})
	if a.CreatedSeq != 10 {
		t.Errorf("CreateAlert(CreatedSeq 3, position 10) CreatedSeq = %d, want 10", a.CreatedSeq)
	}
	unknown := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "AAA", Condition: alert.Above, Threshold: 1, Notify: []string{}, CreatedAt: created})
	above := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "AAA", Condition: alert.Above, Threshold: 1, Notify: []string{}, CreatedAt: created, CreatedSeq: 12})
	all, _, err := s.EvaluatedAlerts(ctx)
	if err != nil || len(all) != 3 || all[0].CreatedSeq != 10 || all[1].CreatedSeq != 0 || all[2].CreatedSeq != 12 {
		t.Fatalf("EvaluatedAlerts() = %+v, %v; want created_seq 10 (raised), 0 (unknown, kept), 12 (above)", all, err)
	}
	advance(market.Unpartitioned, 10, 20, true, 10)
	for _, id := range []int64{unknown.ID, above.ID} {
		if err := s.DeleteAlert(ctx, ann, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SetAlertPaused(ctx, ann, a.ID, true); err != nil {
		t.Fatal(err)
	}
	advance(market.Unpartitioned, 10, 20, true, 10) // paused counts
	if err := s.DeleteAlert(ctx, ann, a.ID); err != nil {
		t.Fatal(err)
	}
	advance(market.Unpartitioned, 10, 20, false, 20)

	// Partitions: each moves its own position; a new alert is stored at
	// least at the largest of all.
	advance(2, 0, 50, false, 50)
	advance(1, 0, 30, false, 30)
	b := mustAlert(t, s, alert.Alert{UserID: ann, Symbol: "BBB", Condition: alert.Above, Threshold: 1, Notify: []string{}, CreatedAt: created, CreatedSeq: 25})
	if b.CreatedSeq != 50 {
		t.Errorf("CreateAlert(CreatedSeq 25, positions 20, 30, 50) CreatedSeq = %d, want 50", b.CreatedSeq)
	}
	advance(1, 30, 60, true, 30)
	if _, err := s.AdvanceIdle(ctx, -2, 0, 1); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("AdvanceIdle(partition -2) error = %v, want ErrInvalid", err)
	}
	if _, err := s.AdvanceIdle(ctx, 1, 0, 1<<63); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("AdvanceIdle(seq 2^63) error = %v, want ErrInvalid", err)
	}
}
