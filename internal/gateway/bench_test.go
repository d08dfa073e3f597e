package gateway

import (
	"fmt"
	"io"
	"net"
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

func (d *discardTransport) ReadMessage(int) ([]byte, error) { <-d.closed; return nil, io.EOF }
func (d *discardTransport) Linger()                         {}
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
		c.writing = !writers // enqueue only: as if a writer were busy, so none starts
		s := &subscription{c: c, ch: Channel{Kind: KindTicks, Symbol: "BTC-USD"}, name: "ticks:BTC-USD", idx: -1}
		c.subs = []*subscription{s}
		h.register(s, 0, false)
		c.q = make([][]byte, 0, 1024)
		c.spare = make([][]byte, 0, 1024)
		conns[i] = c
	}
	drain := func() {
		for _, c := range conns {
			c.mu.Lock()
			clear(c.q)
			c.q, c.qBytes = c.q[:0], 0
			c.mu.Unlock()
		}
	}
	drain() // the snapshots
	tick := []market.Tick{{Symbol: "BTC-USD", TS: baseTS, Price: 43123.5, Size: 0.25}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if !writers && i%512 == 0 && i > 0 {
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

// BenchmarkLoopbackWrite measures what bounds fan-out on one machine: the
// CPU of one write syscall of a frame of k tick messages (~150 bytes each)
// to a loopback TCP peer that reads everything. On loopback the sender's
// write also runs the receiver's TCP input, so this is the cost per frame
// per client; messages per frame is the lever.
func BenchmarkLoopbackWrite(b *testing.B) {
	for _, k := range []int{1, 5, 20} {
		b.Run(fmt.Sprintf("msgs=%d", k), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			msg := []byte(`{"type":"tick","channel":"ticks:BTC-USD","data":{"symbol":"BTC-USD","ts":1764244800000,"price":43123.5,"size":0.25,"seq":123456}}`)
			t := &wsTransport{nc: c}
			msgs := make([][]byte, k)
			for i := range msgs {
				msgs[i] = msg
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := t.WriteBatch(msgs, time.Now().Add(10*time.Second)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/msg")
			c.Close()
			<-done
		})
	}
}
