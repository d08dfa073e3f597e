package live_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
)

// countSink counts ticks and closes done when it has seen target.
type countSink struct {
	n, target int64
	done      chan struct{}
}

func (s *countSink) Publish(ticks []market.Tick, u *market.Update) {
	if atomic.AddInt64(&s.n, int64(len(ticks))) == s.target {
		close(s.done)
	}
}
func (s *countSink) SetFloor(uint64) {}

type emptyRestorer struct{}

func (emptyRestorer) RestoreState(context.Context) ([]market.Candle, market.Positions, error) {
	return nil, nil, nil
}

// BenchmarkPipeline measures the whole live path in one process:
// ingest.Publisher → bus (embedded NATS, file store) → live.Feed →
// market.State.Apply (quotes, 24h stats, candles of every interval).
// Ticks go in batches of 20 symbols × 500 from 4 concurrent publishers.
func BenchmarkPipeline(b *testing.B) {
	const symbols, perSymbol, publishers = 20, 500, 4
	bs := openBus(b)
	pub := ingest.NewPublisher(bs, ingest.Config{}, discard(), nil)
	batch := make([]market.Tick, 0, symbols*perSymbol)
	ts := time.Now().UnixMilli()
	for s := 0; s < symbols; s++ {
		for i := 0; i < perSymbol; i++ {
			batch = append(batch, market.Tick{Symbol: fmt.Sprintf("SYM-%02d", s), TS: ts + int64(i), Price: 100 + float64(i%50), Size: 1})
		}
	}
	batches := (b.N + len(batch) - 1) / len(batch)
	sink := &countSink{target: int64(batches * len(batch)), done: make(chan struct{})}
	state := market.NewState()
	f := live.New(bs, emptyRestorer{}, state, sink, live.Config{}, discard(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	<-f.Ready()

	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for next.Add(1) <= int64(batches) {
				if err := pub.Publish(ctx, batch); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-sink.done:
	case <-time.After(time.Minute):
		b.Fatalf("feed saw %d of %d ticks", atomic.LoadInt64(&sink.n), sink.target)
	}
	b.StopTimer()
	b.ReportMetric(float64(sink.target)/b.Elapsed().Seconds(), "ticks/s")
	cancel()
	<-done
}
