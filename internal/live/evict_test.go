package live_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
)

// quietLog is an event log holding a fixed list of messages, for tests in a
// synctest bubble (the real bus does network I/O outside it).
type quietLog struct{ msgs [][]market.Tick }

func (l quietLog) Consume(ctx context.Context, from uint64, fn func(uint64, []market.Tick) error) error {
	for i, m := range l.msgs {
		if seq := uint64(i + 1); seq >= from {
			if err := fn(seq, m); err != nil {
				return err
			}
		}
	}
	<-ctx.Done()
	return ctx.Err()
}
func (l quietLog) SeqAt(context.Context, time.Time) (uint64, error) { return 1, nil }
func (l quietLog) LastSeq(context.Context) (uint64, error)          { return uint64(len(l.msgs)), nil }

type emptyStore struct{}

func (emptyStore) RestoreState(context.Context) ([]market.Candle, market.Positions, error) {
	return nil, nil, nil
}

// TestFeedEvictsIdleSymbols: a symbol without ticks for IdleAfter has its
// statistics freed by the feed's sweep (counted), keeping its quote.
func TestFeedEvictsIdleSymbols(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now().UnixMilli()
		log := quietLog{msgs: [][]market.Tick{{{Symbol: "IDLE", TS: now, Price: 3, Size: 1, Seq: 1 << 16}}}}
		state := market.NewState()
		reg := prometheus.NewRegistry()
		f := live.New(log, emptyStore{}, state, newRecorder(), live.Config{IdleAfter: time.Hour, EvictEvery: time.Minute}, discard(), reg)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- f.Run(ctx) }()
		<-f.Ready()
		synctest.Wait()
		if n, hot := state.Len(); n != 1 || hot != 1 {
			t.Fatalf("Len() = %d, %d before the idle period; want 1, 1", n, hot)
		}
		time.Sleep(59 * time.Minute) // fake time: the bubble's clock
		synctest.Wait()
		if _, hot := state.Len(); hot != 1 {
			t.Fatalf("evicted after 59m, IdleAfter is 1h")
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if n, hot := state.Len(); n != 1 || hot != 0 {
			t.Fatalf("Len() = %d, %d after 61m idle; want 1, 0", n, hot)
		}
		if q, ok := state.Quote("IDLE"); !ok || q.Price != 3 {
			t.Errorf("Quote(IDLE) = %+v, %v after eviction; want its price kept", q, ok)
		}
		if got := gathered(t, reg); got["findash_market_symbols_evicted_total"] != 1 || got["findash_market_symbols"] != 1 || got["findash_market_symbols_active"] != 0 {
			t.Errorf("metrics = %v, want 1 evicted, 1 symbol, 0 active", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
}

// gathered returns the value of every gauge and counter of reg by name.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[mf.GetName()] += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}
