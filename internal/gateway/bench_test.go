package gateway

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
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
	sent   *sentCount // messages written by all transports of a benchmark; nil: not counted
	pings  *sentCount // pings written, likewise
}

// sentCount counts the messages written and says when a target is reached.
type sentCount struct {
	n, target atomic.Int64
	reached   chan struct{} // capacity 1
}

func (s *sentCount) add(k int) {
	if s.n.Add(int64(k)) == s.target.Load() {
		s.reached <- struct{}{}
	}
}

func (d *discardTransport) ReadMessage(int) ([]byte, error) { <-d.closed; return nil, io.EOF }
func (d *discardTransport) Linger()                         {}
func (d *discardTransport) WaitReadable() error             { return nil }
func (d *discardTransport) SetReadDeadline(time.Time) error { return nil }
func (d *discardTransport) WriteBatch(msgs [][]byte, _ time.Time) error {
	d.mu.Lock()
	d.frames++
	d.mu.Unlock()
	if d.sent != nil {
		d.sent.add(len(msgs))
	}
	return nil
}
func (d *discardTransport) WriteBatchNow(msgs [][]byte, ping bool, deadline time.Time) (writeResult, error) {
	err := d.WriteBatch(msgs, deadline)
	if ping { // after the batch, as the real transport writes it
		_ = d.WritePing(deadline)
	}
	return writeDone, err
}
func (d *discardTransport) Flush(time.Time) error { return nil }
func (d *discardTransport) WritePing(time.Time) error {
	if d.pings != nil {
		d.pings.add(1)
	}
	return nil
}
func (d *discardTransport) WriteClose(int, string, time.Time) error { return nil }
func (d *discardTransport) Close() error                            { d.once.Do(func() { close(d.closed) }); return nil }

// BenchmarkFanout publishes one tick per iteration to N subscribers of its
// channel: encoded once, the same bytes queued to every connection.
//
//   - enqueue: the publish path only; queues are emptied (timer stopped)
//     before they fill, so every delivery is a real enqueue.
//   - writer: publishes back to back; the writers coalesce what is queued
//     into one frame written to a discarding transport.
//   - each: as writer, but each publish waits until every subscriber has
//     been written its tick, so that every delivery is a frame and a write
//     of its own (the fan-out of one tick per publish at a rate the
//     clients keep up with).
//
// cpu-ns/delivery is the process's user+system CPU (getrusage) over the
// timed loop divided by the deliveries: on a shared machine it is steadier
// than the elapsed time.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("enqueue/subs=%d", n), func(b *testing.B) { benchFanout(b, n, false, false) })
		b.Run(fmt.Sprintf("writer/subs=%d", n), func(b *testing.B) { benchFanout(b, n, true, false) })
		b.Run(fmt.Sprintf("each/subs=%d", n), func(b *testing.B) { benchFanout(b, n, true, true) })
	}
}

// BenchmarkFaninRounds is the fan-in's shape: every connection on all of
// 100 channels, a round publishes one tick on each and waits until every
// connection has been written (its writer then stops until the next round,
// as between two WriteCoalesce windows): ~100 messages queued per
// connection per round. allocs/op counts what a round costs beyond the
// ticks' encoding.
func BenchmarkFaninRounds(b *testing.B) {
	const n, symbols = 200, 100
	h := New(market.NewState(), Config{WriteCoalesce: -1}, nil, nil)
	sent := sentCount{reached: make(chan struct{}, 1)}
	sent.target.Store(-1)
	conns := make([]*conn, n)
	syms := make([]string, symbols)
	for k := range syms {
		syms[k] = fmt.Sprintf("S%03d", k)
	}
	for i := range conns {
		c := newConn(h, 0)
		c.t = &discardTransport{closed: make(chan struct{}), sent: &sent}
		c.writing = true
		for _, sym := range syms {
			s := &subscription{c: c, ch: Channel{Kind: KindTicks, Symbol: sym}, name: "ticks:" + sym, idx: -1}
			c.subs = append(c.subs, s)
			h.register(s, 0, false)
		}
		conns[i] = c
	}
	for _, c := range conns {
		c.mu.Lock()
		clear(c.q)
		c.q, c.qBytes, c.writing = nil, 0, false
		c.mu.Unlock()
	}
	tick := []market.Tick{{TS: baseTS, Price: 43123.5, Size: 0.25}}
	b.ReportAllocs()
	base := sent.n.Load()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
		sent.target.Store(base + int64(i+1)*n*symbols)
		for _, sym := range syms {
			tick[0].Symbol, tick[0].Seq = sym, uint64(i+1)
			tick[0].TS++
			h.Publish(tick, nil)
		}
		<-sent.reached
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	deliveries := float64(b.N) * n * symbols
	b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "cpu-ns/delivery")
	for _, c := range conns {
		c.close(0, "")
		<-c.writerDone
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchFanout(b *testing.B, n int, writers, each bool) {
	cfg := Config{}
	if each {
		// Publishes come right after each write here; in the fan-out they
		// stand for, a client gets a tick every few hundred ms, longer
		// than WriteCoalesce, so it is never busy: never made to wait.
		cfg.WriteCoalesce = -1
	}
	h := New(market.NewState(), cfg, nil, nil)
	sent := sentCount{reached: make(chan struct{}, 1)}
	sent.target.Store(-1)
	conns := make([]*conn, n)
	for i := range conns {
		c := newConn(h, 0)
		c.t = &discardTransport{closed: make(chan struct{}), sent: &sent}
		c.writing = true // as if a writer were busy, so none starts (until the snapshots are dropped)
		s := &subscription{c: c, ch: Channel{Kind: KindTicks, Symbol: "BTC-USD"}, name: "ticks:BTC-USD", idx: -1}
		c.subs = []*subscription{s}
		h.register(s, 0, false)
		if !each {
			// back to back, queues hold many ticks; in each, one,
			// and a queue slice of 1,024 would go to the hub's pool
			// and back at every write (an allocation per delivery
			// the server never makes: its queues there hold one)
			c.q = make([][]byte, 0, 1024)
			c.spare = make([][]byte, 0, 1024)
		}
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
	for _, c := range conns {
		c.mu.Lock()
		c.writing = !writers // enqueue only: none ever starts
		c.mu.Unlock()
	}
	tick := []market.Tick{{Symbol: "BTC-USD", TS: baseTS, Price: 43123.5, Size: 0.25}}
	b.ReportAllocs()
	base := sent.n.Load()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
		if !writers && i%512 == 0 && i > 0 {
			b.StopTimer()
			drain()
			b.StartTimer()
		}
		tick[0].Seq = uint64(i + 1)
		tick[0].TS++
		if each {
			sent.target.Store(base + int64(i+1)*int64(n))
		}
		h.Publish(tick, nil)
		if each {
			<-sent.reached // no spinning: only the fan-out's CPU counts
		}
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	deliveries := float64(b.N) * float64(n)
	b.ReportMetric(deliveries/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "cpu-ns/delivery")
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
//
// now=true is the pool writer's write (WriteBatchNow), which never waits.
func BenchmarkLoopbackWrite(b *testing.B) {
	for _, bench := range []struct {
		k   int
		now bool
	}{{1, false}, {5, false}, {20, false}, {1, true}, {5, true}} {
		k, now := bench.k, bench.now
		b.Run(fmt.Sprintf("msgs=%d/now=%t", k, now), func(b *testing.B) {
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
			if now {
				if t.raw, err = c.(*net.TCPConn).SyscallConn(); err != nil {
					b.Fatal(err)
				}
			}
			msgs := make([][]byte, k)
			for i := range msgs {
				msgs[i] = msg
			}
			deadline := time.Now().Add(time.Hour)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if !now {
					if err := t.WriteBatch(msgs, deadline); err != nil {
						b.Fatal(err)
					}
					continue
				}
				// The pool writer's write: on a full socket it writes
				// nothing, or keeps the end; the dedicated writer's part
				// (a write that waits) does the rest here.
				res, err := t.WriteBatchNow(msgs, false, deadline)
				switch {
				case err == nil && res == writeNotNow:
					err = t.WriteBatch(msgs, deadline)
				case err == nil && res == writeKept:
					err = t.Flush(deadline)
				}
				if err != nil {
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

// BenchmarkPing pings 10,000 idle connections (every ping slot once: what
// PingInterval brings) and reports the CPU per ping; the transports write
// nowhere, so what is left is the gateway's own cost: waking a writer, and
// before the pool wrote pings, starting each connection's own writer.
//
//	go test ./internal/gateway -run '^$' -bench Ping -benchtime 20x
func BenchmarkPing(b *testing.B) {
	const n = 10_000
	h := New(market.NewState(), Config{}, nil, nil)
	pings := sentCount{reached: make(chan struct{}, 1)}
	conns := make([]*conn, n)
	for i := range conns {
		c := newConn(h, 0)
		c.t = &discardTransport{closed: make(chan struct{}), pings: &pings}
		h.addConn(c, 0, identity{})
		conns[i] = c
	}
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
		pings.target.Store(int64(i+1) * n)
		for s := range uint8(pingSlots) {
			h.pingSlot(s)
		}
		<-pings.reached
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/ping")
	for _, c := range conns {
		c.close(0, "")
		<-c.writerDone
		h.removeConn(c)
	}
}
