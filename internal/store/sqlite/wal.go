package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The WAL is checkpointed off the writer (issue 14, decision 0077). With
// SQLite's wal_autocheckpoint, the commit that takes the WAL past 1,000
// pages copies them into the database file and syncs it, on the writer's
// connection: at 300K ticks/s that was 1.28 s of a 20 s profile inside
// the persister's serial path. The writer connection turns it off
// (wal_autocheckpoint(0)); a checkpointer goroutine owned by the DB runs
// PASSIVE checkpoints on its own connection after commits, which copy what
// no reader still needs without blocking the writer or any reader.
//
// A PASSIVE checkpoint cannot restart the WAL: that happens when a write
// begins after a checkpoint copied everything and no reader uses the WAL,
// which a writer that commits back to back may never allow. So a large
// write (a persister batch, an import) that finds the WAL file past
// walMaxBytes first checkpoints on the writer connection with TRUNCATE,
// which waits for readers (busy timeout, 5 s) and empties the file. A
// reader that still pins the WAL then (a long read transaction, VACUUM
// INTO for a backup) does not stop the write: the WAL grows by what the
// reader pins, as it did with wal_autocheckpoint, counted
// (findash_sqlite_wal_pinned_total) and warned about, and the next large
// write truncates it once the reader is done. Refusing the write instead
// would stall the persister for as long as any reader lives, and a stall
// past the log's retention loses ticks (review revwal).
const (
	// walMaxBytes is the WAL size past which large writes truncate it
	// first (docs/security.md).
	walMaxBytes = 64 << 20
	// walKeepBytes is journal_size_limit: the WAL file is cut back to it
	// when the WAL restarts, so that its size past walKeepBytes is the
	// WAL's extent since the last restart (what walMaxBytes compares).
	walKeepBytes = 16 << 20
	// walIdle is how often the checkpointer looks at the WAL file when no
	// commit signals it (small writes: accounts, alerts, retention).
	walIdle = time.Second
)

// walLimits are walMaxBytes and walKeepBytes, but in tests.
type walLimits struct{ max, keep int64 }

// checkpointer runs PASSIVE checkpoints on its own connection.
type checkpointer struct {
	c       *sql.DB
	walPath string
	lim     walLimits
	kick    chan struct{} // 1-buffered: a large write committed
	// mu is held by each checkpoint: SQLite lets one run at a time and
	// answers another with SQLITE_BUSY at once, without waiting, so the
	// writer's TRUNCATE waits here for a PASSIVE under way. Whoever
	// checkpoints on the writer connection takes that connection first,
	// then mu (review revwal: the other order deadlocked).
	mu sync.Mutex
	// warned is when bound last logged a pinned WAL (unix seconds).
	warned atomic.Int64
	// commits counts large writes; clean is the count as it was when a
	// checkpoint began that then copied the whole WAL: every commit up to
	// it is in the database file (tests wait for it).
	commits, clean atomic.Uint64
	stop           context.CancelFunc
	done           chan struct{}

	runs   *prometheus.CounterVec // by: checkpointer, writer
	pinned prometheus.Counter
	failed prometheus.Counter
	size   prometheus.GaugeFunc
}

func newCheckpointer(path string, lim walLimits) (*checkpointer, error) {
	c, err := openOne(storeDSN(path, lim))
	if err != nil {
		return nil, fmt.Errorf("open sqlite checkpointer %s: %w", path, err)
	}
	k := &checkpointer{
		c: c, walPath: path + "-wal", lim: lim, kick: make(chan struct{}, 1), done: make(chan struct{}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_sqlite_wal_checkpoints_total",
			Help: "SQLite WAL checkpoints run, by who ran them: the checkpointer (PASSIVE, its own connection, after large writes) or the writer (TRUNCATE, before a large write that found the WAL past its 64 MiB bound).",
		}, []string{"by"}),
		pinned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_sqlite_wal_pinned_total",
			Help: "Large writes that found the SQLite WAL past its 64 MiB bound and could not truncate it: a reader (or another process's checkpoint or write) still used it after the busy timeout; the write went ahead and the WAL grew by what the reader pins.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_sqlite_wal_checkpoint_failures_total",
			Help: "PASSIVE checkpoints of the SQLite WAL that failed on the checkpointer's connection (logged at most once a minute); each is retried within a second. The WAL is then bounded only by the writer's TRUNCATE before large writes.",
		}),
	}
	k.size = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "findash_sqlite_wal_bytes", Help: "Size of the SQLite WAL file.",
	}, func() float64 { return float64(k.walSize()) })
	return k, nil
}

// start runs the checkpointer until close.
func (k *checkpointer) start(db *DB) {
	ctx, cancel := context.WithCancel(context.Background())
	k.stop = cancel
	go func() {
		defer close(k.done)
		t := time.NewTicker(walIdle)
		defer t.Stop()
		// seen is the WAL file's mtime before the last checkpoint that
		// succeeded: a failed one is retried at the next tick even if
		// nothing is written meanwhile.
		var seen, mtime time.Time
		var warned time.Time // when a failure was last logged
		for {
			select {
			case <-ctx.Done():
				return
			case <-k.kick:
				mtime = time.Time{} // not compared: a commit always checkpoints
			case <-t.C:
				fi, err := os.Stat(k.walPath)
				if err != nil || fi.ModTime().Equal(seen) {
					continue
				}
				mtime = fi.ModTime()
			}
			c0 := k.commits.Load()
			busy, frames, done, err := k.checkpoint(ctx, k.c, "PASSIVE")
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				// A broken connection fails at every kick, one per batch:
				// the metric counts them all, the log says so once a minute.
				k.failed.Inc()
				if now := time.Now(); now.Sub(warned) >= time.Minute {
					warned = now
					db.log.Warn("WAL checkpoint failed; retried at the next large write or within a second", "err", err)
				}
				continue
			}
			if !mtime.IsZero() {
				seen = mtime
			}
			k.runs.WithLabelValues("checkpointer").Inc()
			if busy == 0 && done == frames {
				k.clean.Store(c0)
			}
		}
	}()
}

// querier is a connection or pool to run a checkpoint on.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// checkpoint runs PRAGMA wal_checkpoint(mode) on q, one at a time (mu),
// and returns its row: busy, the WAL's frames, and those copied.
func (k *checkpointer) checkpoint(ctx context.Context, q querier, mode string) (busy, frames, done int, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	err = q.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &done)
	return busy, frames, done, err
}

// close stops the goroutine and closes its connection.
func (k *checkpointer) close() error {
	if k.stop != nil {
		k.stop()
		<-k.done
	}
	return k.c.Close()
}

// committed tells the checkpointer a large write committed.
func (k *checkpointer) committed() {
	k.commits.Add(1)
	select {
	case k.kick <- struct{}{}:
	default: // one is pending: it will see this commit's frames too
	}
}

// walSize is the WAL file's size, 0 when there is none.
func (k *checkpointer) walSize() int64 {
	fi, err := os.Stat(k.walPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// bound is called before a large write, on the writer connection q (a
// *sql.Conn the caller holds: the writer connection is always taken
// before mu, never after, so the two cannot deadlock): past walMaxBytes it
// checkpoints with TRUNCATE. It never refuses the write: a WAL a reader
// still pins is counted and warned about (at most once a minute) and grows
// by what the reader pins until the next large write after the reader is
// done.
func (k *checkpointer) bound(ctx context.Context, q querier, log *slog.Logger) error {
	if k.walSize() <= k.lim.max {
		return nil
	}
	busy, frames, done, err := k.checkpoint(ctx, q, "TRUNCATE")
	if err != nil {
		return fmt.Errorf("checkpoint the WAL past %d bytes: %w", k.lim.max, translate(err))
	}
	k.runs.WithLabelValues("writer").Inc()
	if busy != 0 {
		k.pinned.Inc()
		if now := time.Now().Unix(); now-k.warned.Load() >= 60 {
			k.warned.Store(now)
			log.Warn("the SQLite WAL is past its bound and a reader still uses it; it grows until the reader is done",
				"bound_bytes", k.lim.max, "wal_bytes", k.walSize(), "frames", frames, "checkpointed", done)
		}
	}
	return nil
}

// onWriter runs fn on the writer connection, taken before anything else
// (see bound).
func (db *DB) onWriter(ctx context.Context, fn func(c *sql.Conn) error) error {
	c, err := db.w.Conn(ctx)
	if err != nil {
		return translate(err)
	}
	defer c.Close()
	return fn(c)
}

// Collectors returns the SQLite store's metrics, for the caller's registry.
func (db *DB) Collectors() []prometheus.Collector {
	return []prometheus.Collector{db.ck.runs, db.ck.pinned, db.ck.failed, db.ck.size}
}
