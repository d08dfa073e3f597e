package persist_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/persist"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/testenv"
)

// cluster is a primary and its asynchronous standby, both real SQLite
// stores. While replicating, every batch the primary commits is applied to
// the standby as well; after that the standby lacks what the primary
// committed, and promote moves writers and readers to it — a failover to
// a standby that had not received the last commits, as PostgreSQL's
// multi-host URL makes it between two writes (decision 0050).
type cluster struct {
	primary, standby *sqlite.DB
	replicating      atomic.Bool
	promoted         atomic.Bool

	mu        sync.Mutex
	dieOnNext func() // see dieDuringNextWrite
}

func newCluster(t *testing.T) *cluster {
	c := &cluster{primary: openStore(t), standby: openStore(t)}
	c.replicating.Store(true)
	return c
}

func (c *cluster) current() *sqlite.DB {
	if c.promoted.Load() {
		return c.standby
	}
	return c.primary
}

// promote makes the standby the primary, with what it has received.
func (c *cluster) promote() { c.replicating.Store(false); c.promoted.Store(true) }

// dieDuringNextWrite makes the next write fail as the primary dies under
// it: the standby is promoted and then then() runs, before the write
// returns its error.
func (c *cluster) dieDuringNextWrite(then func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dieOnNext = then
}

func (c *cluster) WriteBatch(ctx context.Context, part int, ticks []market.Tick, candles []market.Candle, prevSeq, fromSeq, logSeq uint64) error {
	c.mu.Lock()
	die := c.dieOnNext
	c.dieOnNext = nil
	c.mu.Unlock()
	if die != nil {
		c.promote()
		die()
		return errors.New("the primary went away during the write")
	}
	if err := c.current().WriteBatch(ctx, part, ticks, candles, prevSeq, fromSeq, logSeq); err != nil {
		return err
	}
	if c.replicating.Load() {
		if err := c.standby.WriteBatch(ctx, part, ticks, candles, prevSeq, fromSeq, logSeq); err != nil {
			panic("replicating to the standby: " + err.Error())
		}
	}
	return nil
}

func (c *cluster) LogPosition(ctx context.Context, part int) (uint64, error) {
	return c.current().LogPosition(ctx, part)
}

// TestRewindAfterIdleFailover: the primary fails over to a standby that
// lacks the persister's last batches while the persister has nothing to
// write, so no write of its fails. Its next batch must find the stored
// position behind what it wrote and write the lost messages again. Before
// the check moved into the store's transaction it wrote after the gap and
// the lost ticks were gone for good.
func TestRewindAfterIdleFailover(t *testing.T) {
	b := openBus(t)
	c := newCluster(t)
	st := wrap(c)
	reg := prometheus.NewRegistry()
	stop := start(t, b, st, persist.Config{FlushInterval: time.Millisecond}, reg)

	publish(t, b, 0, 2, 3)
	waitPosition(t, st, lastSeq(t, b)) // on both
	c.replicating.Store(false)
	publish(t, b, 2, 2, 3)
	waitPosition(t, st, lastSeq(t, b)) // on the primary only
	c.promote()                        // the persister is idle: no write fails
	publish(t, b, 4, 2, 3)
	waitPosition(t, st, lastSeq(t, b))
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkExactlyOnce(t, c.standby, 6, 3)
	if got := testenv.Counter(t, reg, "findash_persist_rewinds_total"); got != 1 {
		t.Errorf("findash_persist_rewinds_total = %v, want 1", got)
	}
}

// TestRewindOnFinalWrite: the primary dies under a write and the instance
// is stopped (SIGTERM, a partition handed to another worker) while the
// persister waits to retry; its final write reaches the promoted standby,
// which lacks its last batches. That write must be refused, so the next
// persister resumes from the stored position. Before, the final write went
// on after the gap and the next persister started after it: a permanent
// hole.
func TestRewindOnFinalWrite(t *testing.T) {
	b := openBus(t)
	c := newCluster(t)
	st := wrap(c)
	cfg := persist.Config{FlushInterval: time.Millisecond, FlushTimeout: 10 * time.Second}
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := persist.New(b, st, cfg, discard(), reg)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	publish(t, b, 0, 2, 3)
	waitPosition(t, st, lastSeq(t, b))
	c.replicating.Store(false)
	publish(t, b, 2, 2, 3)
	waitPosition(t, st, lastSeq(t, b))
	c.dieDuringNextWrite(cancel) // stopped while waiting to retry
	publish(t, b, 4, 2, 3)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := testenv.Counter(t, reg, "findash_persist_rewinds_total"); got != 1 {
		t.Errorf("findash_persist_rewinds_total = %v, want 1 (the final write found the position behind)", got)
	}

	// The next owner of the log starts on the promoted standby.
	stop := start(t, b, st, cfg, nil)
	waitPosition(t, st, lastSeq(t, b))
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkExactlyOnce(t, c.standby, 6, 3)
}
