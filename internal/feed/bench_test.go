package feed_test

import (
	"context"
	"testing"
	"time"

	"github.com/findash/findash/internal/feed"
	"github.com/findash/findash/internal/feed/fakeexchange"
)

// BenchmarkBinanceThroughput measures parse → acknowledge: trades published
// by the fake exchange on a real WebSocket, parsed, deduplicated, appended
// to the embedded event log and acknowledged (Status().Trades counts only
// acknowledged trades). The fake, the feed and the log share the machine.
func BenchmarkBinanceThroughput(b *testing.B) {
	bus := openBus(b, b.TempDir())
	fake := fakeexchange.New(fakeexchange.Config{Venue: fakeexchange.Binance})
	rig := newRigTB(b, fake, "BTC-USDT")
	f := feed.NewBinance(rig.cfg, bus, feed.NewMetrics(nil), discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for fake.Conns() == 0 {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n := min(1000, b.N-sent)
		fake.Publish("BTCUSDT", n)
		sent += n
	}
	for f.Status().Trades < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "trades/s")
}
