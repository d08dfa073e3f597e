package persist_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/persist"
	"github.com/findash/findash/internal/testenv"
)

// watched is the real log, telling how far the consumer has handed
// messages to the writer: with Config.Buffer 1, message n handed over
// means the writer took message n-1.
type watched struct {
	*bus.Bus
	delivered atomic.Uint64
	moved     chan struct{} // 1-buffered
}

func watch(b *bus.Bus) *watched { return &watched{Bus: b, moved: make(chan struct{}, 1)} }

func (w *watched) Consume(ctx context.Context, from uint64, fn func(uint64, []market.Tick) error) error {
	return w.Bus.Consume(ctx, from, func(seq uint64, ticks []market.Tick) error {
		err := fn(seq, ticks)
		if err == nil {
			w.delivered.Store(seq)
			select {
			case w.moved <- struct{}{}:
			default:
			}
		}
		return err
	})
}

// waitDelivered waits until message seq was handed to the writer.
func waitDelivered(t *testing.T, w *watched, seq uint64) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for w.delivered.Load() < seq {
		select {
		case <-w.moved:
		case <-deadline:
			t.Fatalf("the consumer handed over messages up to %d in 30 s, want %d: the writer stopped taking them while a batch was written", w.delivered.Load(), seq)
		}
	}
}

// gated is a real store whose next gates writes wait, each announcing its
// batch on entered and then doing what release says: nil writes it, an
// error is returned without writing. It records the batches the store
// accepted, in order.
type gated struct {
	*flaky
	gates   atomic.Int32
	entered chan [2]uint64 // fromSeq, logSeq
	release chan error

	mu     sync.Mutex
	stored [][2]uint64
}

func gate(f *flaky, n int32) *gated {
	g := &gated{flaky: f, entered: make(chan [2]uint64, 16), release: make(chan error)}
	g.gates.Store(n)
	return g
}

func (g *gated) WriteBatch(ctx context.Context, part int, ticks []market.Tick, candles []market.Candle, prevSeq, fromSeq, logSeq uint64) error {
	if g.gates.Add(-1) >= 0 {
		g.entered <- [2]uint64{fromSeq, logSeq}
		select {
		case err := <-g.release:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := g.flaky.WriteBatch(ctx, part, ticks, candles, prevSeq, fromSeq, logSeq)
	if err == nil {
		g.mu.Lock()
		g.stored = append(g.stored, [2]uint64{fromSeq, logSeq})
		g.mu.Unlock()
	}
	return err
}

// batches returns the batches stored, checking that each starts right
// after the one before (in log order, no hole, no overlap) from message 1.
func (g *gated) batches(t *testing.T) [][2]uint64 {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	next := uint64(1)
	for _, b := range g.stored {
		if b[0] != next || b[1] < b[0] {
			t.Errorf("stored batches %v: want each to start right after the one before", g.stored)
			break
		}
		next = b[1] + 1
	}
	return slices.Clone(g.stored)
}

// pipeCfg writes a batch as soon as it holds a message; Buffer 1 makes
// the consumer's progress show the writer's.
// rounds of 20 messages are published, the last being message last.
const rounds, last = 11, 220

var pipeCfg = persist.Config{Buffer: 1, FlushInterval: time.Millisecond, FlushMin: 1, MaxBatch: 10_000, FlushTimeout: 5 * time.Second}

// holdFirst starts a persister over g, publishes a round (messages 1..20,
// one per symbol) and waits until a batch of them is in WriteBatch, then
// publishes 10 rounds more (21..220) and waits until the writer took them
// all but the last (a batch filled while the first is written). It
// returns the first batch's last message.
func holdFirst(t *testing.T, g *gated, cfg persist.Config, reg prometheus.Registerer) (w *watched, first uint64, cancel context.CancelFunc, done chan error) {
	t.Helper()
	w = watch(openBus(t))
	ctx, cancel := context.WithCancel(context.Background())
	p := persist.New(w, g, cfg, discard(), reg)
	done = make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	publish(t, w.Bus, 0, 1, 1)
	b := <-g.entered
	if b[0] != 1 {
		t.Fatalf("first batch %v, want it to start at message 1", b)
	}
	publish(t, w.Bus, 1, rounds-1, 1)
	waitDelivered(t, w, last)
	return w, b[1], cancel, done
}

func stopRun(t *testing.T, cancel context.CancelFunc, done chan error) error {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
		return nil
	}
}

// TestPipelinedBatches: while a batch is in WriteBatch the writer goes on
// taking messages into the next one (issue 14); it is written after the
// first lands, starting right after it, and a failure of the first, a
// rewind or a shutdown keep every tick exactly once and in order.
func TestPipelinedBatches(t *testing.T) {
	t.Run("next fills while one is written", func(t *testing.T) {
		db := openStore(t)
		g := gate(wrap(db), 1)
		reg := prometheus.NewRegistry()
		_, first, cancel, done := holdFirst(t, g, pipeCfg, reg)
		g.release <- nil
		waitPosition(t, g.flaky, last)
		if err := stopRun(t, cancel, done); err != nil {
			t.Fatal(err)
		}
		got := g.batches(t)
		if len(got) < 2 || got[1][1] < last-1 {
			t.Errorf("stored batches %v; want the second to hold messages %d..%d at least (taken while the first was written)", got, first+1, last-1)
		}
		checkExactlyOnce(t, db, rounds, 1)
		if n := testenv.Counter(t, reg, "findash_persist_batches_total"); n != float64(len(got)) {
			t.Errorf("findash_persist_batches_total = %v, want %d", n, len(got))
		}
	})
	t.Run("first fails while the next is held", func(t *testing.T) {
		db := openStore(t)
		g := gate(wrap(db), 1)
		reg := prometheus.NewRegistry()
		_, first, cancel, done := holdFirst(t, g, pipeCfg, reg)
		g.release <- errors.New("store unavailable") // retried; the held batch waits
		waitPosition(t, g.flaky, last)
		if err := stopRun(t, cancel, done); err != nil {
			t.Fatal(err)
		}
		if got := g.batches(t); got[0] != [2]uint64{1, first} {
			t.Errorf("stored batches %v; want the failed one (1..%d) first", got, first)
		}
		checkExactlyOnce(t, db, rounds, 1)
		if n := testenv.Counter(t, reg, "findash_persist_write_failures_total"); n != 1 {
			t.Errorf("findash_persist_write_failures_total = %v, want 1", n)
		}
	})
	t.Run("first rewound while the next is held", func(t *testing.T) {
		db := openStore(t)
		g := gate(wrap(db), 1)
		reg := prometheus.NewRegistry()
		_, _, cancel, done := holdFirst(t, g, pipeCfg, reg)
		g.release <- fmt.Errorf("stored position below: %w", market.ErrBehind)
		waitPosition(t, g.flaky, last)
		if err := stopRun(t, cancel, done); err != nil {
			t.Fatal(err)
		}
		// The held batch was dropped with the pass: the next pass read
		// again from the stored position, message 1 (batches checks).
		g.batches(t)
		checkExactlyOnce(t, db, rounds, 1)
		if n := testenv.Counter(t, reg, "findash_persist_rewinds_total"); n != 1 {
			t.Errorf("findash_persist_rewinds_total = %v, want 1", n)
		}
	})
	t.Run("shutdown writes both in order", func(t *testing.T) {
		db := openStore(t)
		g := gate(wrap(db), 1)
		w, _, cancel, done := holdFirst(t, g, pipeCfg, nil)
		cancel() // the write in flight is finished, not cut off
		select {
		case g.release <- nil:
		case <-time.After(10 * time.Second):
			t.Fatal("the write in flight was cut off at shutdown, not finished")
		}
		if err := stopRun(t, cancel, done); err != nil {
			t.Fatalf("Run after a shutdown with two batches held: %v", err)
		}
		pos, err := db.LogPosition(context.Background(), market.Unpartitioned)
		if err != nil || pos < last-1 {
			t.Fatalf("position after shutdown = %d, %v; want %d at least (both batches)", pos, err, last-1)
		}
		if got := g.batches(t); len(got) != 2 {
			t.Errorf("stored batches %v; want 2 (the one in flight, then the one held)", got)
		}
		st := wrap(db) // the next start writes the rest
		stop := start(t, w.Bus, st, pipeCfg, nil)
		waitPosition(t, st, last)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		checkExactlyOnce(t, db, rounds, 1)
	})
	t.Run("shutdown after the write in flight failed", func(t *testing.T) {
		// The write in flight at shutdown fails for good (another
		// persister wrote part of it) while the held batch's would
		// succeed: the held batch must not be written after it, or the
		// failed batch's messages would be a hole for good (review
		// revpipe). Every message was handed over, so the writer waits
		// in its select and cancel takes it to final; were the outcome
		// taken by the pass instead, nothing is written either.
		db := openStore(t)
		g := gate(wrap(db), 1)
		_, _, cancel, done := holdFirst(t, g, pipeCfg, nil)
		cancel()
		select {
		case g.release <- fmt.Errorf("position moved: %w", market.ErrConflict):
		case <-time.After(10 * time.Second):
			t.Fatal("the write in flight was cut off at shutdown, not finished")
		}
		if err := stopRun(t, cancel, done); err != nil {
			t.Fatal(err)
		}
		if pos, _ := db.LogPosition(context.Background(), market.Unpartitioned); pos != 0 {
			t.Fatalf("position = %d after the write in flight failed at shutdown; want 0 (the held batch not written after it)", pos)
		}
	})
	t.Run("shutdown bounded by FlushTimeout", func(t *testing.T) {
		db := openStore(t)
		g := gate(wrap(db), 1)
		cfg := pipeCfg
		cfg.FlushTimeout = 200 * time.Millisecond
		w, _, cancel, done := holdFirst(t, g, cfg, nil) // the first write never returns by itself
		if err := stopRun(t, cancel, done); err == nil {
			t.Fatal("Run returned nil though neither batch was written")
		}
		if pos, _ := db.LogPosition(context.Background(), market.Unpartitioned); pos != 0 {
			t.Fatalf("position = %d after a shutdown with the first batch cut off; want 0 (no later batch written before it)", pos)
		}
		st := wrap(db)
		stop := start(t, w.Bus, st, pipeCfg, nil)
		waitPosition(t, st, last)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		checkExactlyOnce(t, db, rounds, 1)
	})
	t.Run("two batches at most", func(t *testing.T) {
		// The held batch stops taking messages at MaxBatch (one tick each
		// here); the log keeps the rest.
		db := openStore(t)
		g := gate(wrap(db), 2)
		cfg := pipeCfg
		cfg.MaxBatch = 40
		w := watch(openBus(t))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- persist.New(w, g, cfg, discard(), nil).Run(ctx) }()
		publish(t, w.Bus, 0, rounds, 1)
		b1 := <-g.entered
		waitDelivered(t, w, b1[1]+uint64(cfg.MaxBatch)+1) // the held batch is full
		g.release <- nil
		if b2 := <-g.entered; b2[0] != b1[1]+1 || b2[1]-b2[0]+1 > uint64(cfg.MaxBatch) {
			t.Errorf("batches %v then %v; want the second to follow the first and hold %d messages at most", b1, b2, cfg.MaxBatch)
		}
		g.release <- nil
		waitPosition(t, g.flaky, last)
		if err := stopRun(t, cancel, done); err != nil {
			t.Fatal(err)
		}
		g.batches(t)
		checkExactlyOnce(t, db, rounds, 1)
	})
}
