package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// driver sends ticks at a fixed total rate through the ingest API: a
// scheduler cuts the due ticks into batches of at most maxBatch every
// interval (default 5 ms)
// and hands them to workers posters over a queue of max(driverQueue,
// 2·workers) batches. When the queue
// is full the batch is not sent and counted in behind (the rate was not
// reached); the schedule never builds a backlog.
type driver struct {
	p        []*poster // batch k goes to p[k mod len]
	symbols  []string
	rate     float64
	maxBatch int // ticks per POST at most
	workers  int // POSTs in flight
	interval time.Duration

	sent, errors, behind atomic.Int64
	mu                   sync.Mutex
	accepted             []int64 // per symbol index
	err                  error
}

const (
	driverWorkers  = 8
	driverQueue    = 16
	driverMaxBatch = 2000
	driverTick     = 5 * time.Millisecond
)

// newDriver returns a driver; interval ≤ 0 means driverTick.
func newDriver(p []*poster, symbols []string, rate float64, maxBatch, workers int, interval time.Duration) *driver {
	if interval <= 0 {
		interval = driverTick
	}
	return &driver{p: p, symbols: symbols, rate: rate, maxBatch: maxBatch, workers: workers, interval: interval, accepted: make([]int64, len(symbols))}
}

// driverJob is one batch: n ticks from symbol index first, posted to
// instance k mod the number of posters (round robin over the batches).
type driverJob struct{ first, n, k int }

func (d *driver) run(ctx context.Context, dur time.Duration) {
	jobs := make(chan driverJob, max(driverQueue, 2*d.workers))
	var wg sync.WaitGroup
	for range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := newBatch(len(d.symbols))
			for j := range jobs {
				p := d.p[j.k%len(d.p)]
				n, err := p.post(ctx, p.build(b, d.symbols, j.first, j.n, time.Now()), j.n)
				if err != nil {
					d.errors.Add(1)
					d.mu.Lock()
					if d.err == nil {
						d.err = err
					}
					d.mu.Unlock()
					continue
				}
				d.sent.Add(int64(n))
				d.mu.Lock()
				for k := range j.n {
					d.accepted[(j.first+k)%len(d.symbols)]++
				}
				d.mu.Unlock()
			}
		}()
	}
	t0 := time.Now()
	tk := time.NewTicker(d.interval)
	var scheduled int64
	cursor, batches := 0, 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tk.C:
			el := now.Sub(t0)
			if el >= dur {
				el = dur
			}
			due := int64(d.rate*el.Seconds()) - scheduled
			for due > 0 {
				n := int(min(due, int64(d.maxBatch)))
				select {
				case jobs <- driverJob{first: cursor, n: n, k: batches}:
					batches++
				default:
					d.behind.Add(int64(n))
				}
				cursor = (cursor + n) % len(d.symbols)
				scheduled += int64(n)
				due -= int64(n)
			}
			if el >= dur {
				break loop
			}
		}
	}
	tk.Stop()
	close(jobs)
	wg.Wait()
}

func (d *driver) acceptedBySymbol() map[string]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := make(map[string]int64, len(d.symbols))
	for i, n := range d.accepted {
		m[d.symbols[i]] = n
	}
	return m
}

func (d *driver) firstErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}
