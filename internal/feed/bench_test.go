package feed_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/findash/findash/internal/feed"
	"github.com/findash/findash/internal/feed/fakeexchange"
	"github.com/findash/findash/internal/testenv"
)

// BenchmarkThroughput measures parse → acknowledge per venue: trades
// published by the fake exchange on a real WebSocket (bursts of 1,000
// frames in one write), parsed, checked against the marks, appended to the
// embedded event log (JetStream, file store) and acknowledged
// (Status().Trades counts only trades the log acknowledged). The fake, the
// feed and the log share the machine.
//
// Besides trades/s (wall time) it reports cpu-µs/trade: the process's CPU
// time (user + system, fake included) per trade, which a loaded machine
// distorts far less than the wall time (docs/benchmarks/feeds.md).
func BenchmarkThroughput(b *testing.B) {
	for _, v := range []struct {
		venue, symbol, name string
		newFeed             func(feed.Config, feed.Log, *feed.Metrics) *feed.Feed
	}{
		{fakeexchange.Binance, "BTCUSDT", "BTC-USDT", func(c feed.Config, l feed.Log, m *feed.Metrics) *feed.Feed {
			return feed.NewBinance(c, l, m, discard())
		}},
		{fakeexchange.Coinbase, "BTC-USD", "BTC-USD", func(c feed.Config, l feed.Log, m *feed.Metrics) *feed.Feed {
			return feed.NewCoinbase(c, l, m, discard())
		}},
	} {
		b.Run(v.venue, func(b *testing.B) {
			bus := openBus(b, b.TempDir())
			fake := fakeexchange.New(fakeexchange.Config{Venue: v.venue})
			rig := newRigTB(b, fake, v.name)
			f := v.newFeed(rig.cfg, bus, feed.NewMetrics(rig.reg))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); f.Run(ctx) }()
			defer func() { cancel(); <-done }()
			// Coinbase answers the subscription first: trades published
			// before it reach no one.
			if !testenv.WaitFor(10*time.Second, func() bool { return f.Status().Messages > 0 || (v.venue == fakeexchange.Binance && fake.Conns() > 0) }) {
				b.Fatal("the feed did not connect")
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			for sent := 0; sent < b.N; {
				n := min(1000, b.N-sent)
				fake.Publish(v.symbol, n)
				sent += n
			}
			for f.Status().Trades < int64(b.N) {
				time.Sleep(100 * time.Microsecond)
			}
			wall := time.Since(start)
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(b.N)/wall.Seconds(), "trades/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/trade")
		})
	}
}

// cpuTime returns the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
