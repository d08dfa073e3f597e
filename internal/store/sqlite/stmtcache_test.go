package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// TestWriteBatchKeepsStatements writes batches of every awkward size (below,
// at and past a statement's rows, powers of two and their neighbours) twice
// over: every tick and every candle's volume is stored, the statements are
// prepared during the first round only, and Close finalizes them.
func TestWriteBatchKeepsStatements(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "findash.db"), nil)
	if err != nil {
		t.Fatalf("Open() error: %v", err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() error: %v", err)
	}
	sizes := []int{1, 2, 3, 7, 255, 256, 257, 399, 400, 499, 500, 501, 1001}
	var (
		seq, logSeq uint64
		total       int
		volume      float64
		prepared    int
	)
	for round := range 2 {
		for _, n := range sizes {
			ticks := make([]market.Tick, n)
			for j := range ticks {
				seq++
				// 300 symbols: a batch of 1,001 ticks has ~1,800 candles,
				// past candleUpsert's 200 rows per statement.
				ticks[j] = market.Tick{Symbol: fmt.Sprintf("S%03d-USD", seq%300), TS: 1764201600000 + int64(seq)*1000,
					Price: 100 + float64(seq%10), Size: float64(seq%5) + 1, Seq: seq}
				volume += ticks[j].Size
			}
			r := market.NewRollup()
			for j := range ticks {
				r.Add(&ticks[j])
			}
			logSeq++
			if err := db.WriteBatch(ctx, market.Unpartitioned, ticks, r.Candles(), logSeq-1, logSeq, logSeq); err != nil {
				t.Fatalf("round %d: WriteBatch(%d ticks) error: %v", round, n, err)
			}
			total += n
		}
		if round == 0 {
			prepared = db.CachedStatements()
			if prepared == 0 {
				t.Fatalf("CachedStatements() = 0 after %d batches, want the statements kept prepared", len(sizes))
			}
		} else if got := db.CachedStatements(); got != prepared {
			t.Errorf("CachedStatements() = %d after the second round, want %d (prepared during the first)", got, prepared)
		}
	}
	if got, err := db.QueryFloat(ctx, "SELECT count(*) FROM ticks"); err != nil || int(got) != total {
		t.Errorf("ticks stored = %v (%v), want %d", got, err, total)
	}
	if got, err := db.QueryFloat(ctx, "SELECT sum(volume) FROM candles WHERE interval = '1m'"); err != nil || got != volume {
		t.Errorf("1m candles' volume = %v (%v), want %v", got, err, volume)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close() error: %v", err)
	}
	if got := db.CachedStatements(); got != 0 {
		t.Errorf("CachedStatements() after Close = %d, want 0", got)
	}
}
