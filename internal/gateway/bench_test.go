package gateway

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/findash/findash/internal/market"
)

// discardTransport is a connection whose writes go nowhere.
type discardTransport struct {
	mu     sync.Mutex
	frames int
	closed chan struct{}
	once   sync.Once
}

func (d *discardTransport) ReadMessage(int) ([]byte, error) { <-d.closed; return nil, errTooLarge }
func (d *discardTransport) WaitReadable() error             { return nil }
func (d *discardTransport) SetReadDeadline(time.Time) error { return nil }
func (d *discardTransport) WriteBatch(msgs [][]byte, _ time.Time) error {
	d.mu.Lock()
	d.frames++
	d.mu.Unlock()
	return nil
}
func (d *discardTransport) WritePing(time.Time) error               { return nil }
func (d *discardTransport) WriteClose(int, string, time.Time) error { return nil }
func (d *discardTransport) Close() error                            { d.once.Do(func() { close(d.closed) }); return nil }

// BenchmarkFanout publishes one tick per iteration to N subscribers of its
// channel: encoded once, the same bytes queued to every connection.
//
//   - enqueue: the publish path only; queues are emptied (timer stopped)
//     before they fill, so every delivery is a real enqueue.
//   - writer: each connection's writer is started when something is queued
//     (and ends when nothing is), coalescing what is queued into one frame
//     written to a discarding transport, at most one write per
//     Config.WriteCoalesce per connection.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("enqueue/subs=%d", n), func(b *testing.B) { benchFanout(b, n, false) })
		b.Run(fmt.Sprintf("writer/subs=%d", n), func(b *testing.B) { benchFanout(b, n, true) })
	}
}

func benchFanout(b *testing.B, n int, writers bool) {
	h := New(market.NewState(), Config{}, nil, nil)
	conns := make([]*conn, n)
	for i := range conns {
		c := newConn(h, 0)
		c.t = &discardTransport{closed: make(chan struct{})}
		s := &subscription{c: c, ch: Channel{Kind: KindTicks, Symbol: "BTC-USD"}, name: "ticks:BTC-USD", idx: -1}
		c.subs = map[Channel]*subscription{s.ch: s}
		h.register(s, 0, false)
		c.q = make([][]byte, 0, h.cfg.SendQueue)
		c.spare = make([][]byte, 0, h.cfg.SendQueue)
		c.writing = !writers // enqueue only: as if a writer were busy, so none starts
		conns[i] = c
	}
	drain := func() {
		for _, c := range conns {
			c.mu.Lock()
			clear(c.q)
			c.q = c.q[:0]
			c.mu.Unlock()
		}
	}
	drain() // the snapshots
	tick := []market.Tick{{Symbol: "BTC-USD", TS: baseTS, Price: 43123.5, Size: 0.25}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if !writers && i%(h.cfg.SendQueue/2) == 0 && i > 0 {
			b.StopTimer()
			drain()
			b.StartTimer()
		}
		tick[0].Seq = uint64(i + 1)
		tick[0].TS++
		h.Publish(tick, nil)
	}
	b.StopTimer()
	deliveries := float64(b.N) * float64(n)
	b.ReportMetric(deliveries/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	if writers {
		for _, c := range conns {
			c.close(0, "")
			<-c.writerDone
		}
	}
}
