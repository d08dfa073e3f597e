package bus_test

import (
	"context"
	"testing"
)

// A batch re-sent after a lost acknowledgement is dropped by the log's
// duplicate window, and the restart mark reads the venue's last trade id.
func TestAppendVenueDeduplicatesAndMarks(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer closeBus(t, b)
	ticks := ticksOf("BTC-USDT", 3, 1764244800000)
	ids := []int64{7, 8, 9}
	if dups, err := b.AppendVenue(ctx, "binance", ticks, ids); err != nil || dups != 0 {
		t.Fatalf("AppendVenue = %d, %v; want 0 duplicates", dups, err)
	}
	again := ticksOf("BTC-USDT", 3, 1764244800000)
	if dups, err := b.AppendVenue(ctx, "binance", again, ids); err != nil || dups != 3 {
		t.Fatalf("AppendVenue again = %d, %v; want 3 duplicates", dups, err)
	}
	if seq, err := b.LastSeq(ctx); err != nil || seq != 1 {
		t.Errorf("LastSeq = %d, %v; want 1 (one message: the re-sent one was dropped)", seq, err)
	}
	if id, ok, err := b.LastTradeID(ctx, "binance", "BTC-USDT"); err != nil || !ok || id != 9 {
		t.Errorf("LastTradeID(binance) = %d, %v, %v; want 9", id, ok, err)
	}
	if _, ok, err := b.LastTradeID(ctx, "coinbase", "BTC-USDT"); err != nil || ok {
		t.Errorf("LastTradeID(coinbase) = %v, %v; want not known", ok, err)
	}
	if _, ok, err := b.LastTradeID(ctx, "binance", "ETH-USDT"); err != nil || ok {
		t.Errorf("LastTradeID of a symbol never logged = %v, %v; want not known", ok, err)
	}
}
