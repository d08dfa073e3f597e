package persist_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/persist"
)

// TestLingersAtLowRates: a batch smaller than FlushMin is written Linger
// after its first tick, not at FlushInterval (decision 0059); a batch of
// FlushMin ticks is written at FlushInterval.
func TestLingersAtLowRates(t *testing.T) {
	t.Run("small batch waits", func(t *testing.T) {
		b := openBus(t)
		db := openStore(t)
		st := wrap(db)
		const linger = 300 * time.Millisecond
		stop := start(t, b, st, persist.Config{FlushInterval: time.Millisecond, Linger: linger}, nil)
		defer stop()
		t0 := time.Now()
		publish(t, b, 0, 1, 1) // 20 messages of one tick
		waitPosition(t, st, 1)
		if waited := time.Since(t0); waited < linger {
			t.Errorf("first tick written after %v, want at least Linger (%v)", waited, linger)
		}
	})
	t.Run("full batch does not wait", func(t *testing.T) {
		b := openBus(t)
		db := openStore(t)
		st := wrap(db)
		stop := start(t, b, st, persist.Config{FlushInterval: time.Millisecond, FlushMin: 100, Linger: time.Hour}, nil)
		defer stop()
		appendOne(t, b, 100)               // one message of FlushMin ticks
		waitPosition(t, st, lastSeq(t, b)) // fails after 60 s if it lingers
	})
}

// appendOne appends n ticks of one symbol: one log message.
func appendOne(t *testing.T, b *bus.Bus, n int) {
	t.Helper()
	ticks := make([]market.Tick, n)
	for i := range ticks {
		ticks[i] = market.Tick{Symbol: "ONE.X", TS: ts0 + int64(i)*1000, Price: 100, Size: 1}
	}
	if err := b.Append(context.Background(), ticks); err != nil {
		t.Fatal(fmt.Errorf("append %d ticks: %w", n, err))
	}
}
