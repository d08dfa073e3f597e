package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/testenv"
)

// unreachable is a server nobody listens on.
const unreachable = "postgres://postgres@127.0.0.1:1/none?sslmode=disable"

const day0 int64 = 1764201600000 // 2025-11-27T00:00:00Z

// seeded creates a fresh migrated database holding one AAA tick at price
// and returns its URL.
func seeded(t *testing.T, price float64) string {
	t.Helper()
	dsn := testenv.Postgres(t).URL
	seed(t, dsn, price)
	return dsn
}

func seed(t *testing.T, dsn string, price float64) {
	t.Helper()
	db := open(t, postgres.Config{PrimaryURL: dsn})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate() error: %v", err)
	}
	ticks := []market.Tick{{Symbol: "AAA", TS: day0, Price: price, Size: 1, Seq: 1}}
	r := market.NewRollup()
	r.Add(&ticks[0])
	if err := db.WriteBatch(t.Context(), market.Unpartitioned, ticks, r.Candles(), 0, 1, 1); err != nil {
		t.Fatalf("WriteBatch() error: %v", err)
	}
}

// readPrice reads AAA's 1m candle and returns its close: which database
// answered.
func readPrice(t *testing.T, db *postgres.DB) float64 {
	t.Helper()
	cs, err := db.Candles(t.Context(), market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: day0, To: day0, Limit: 1})
	if err != nil {
		t.Fatalf("Candles() error: %v", err)
	}
	if len(cs) != 1 {
		t.Fatalf("Candles() = %v, want one candle", cs)
	}
	return cs[0].Close
}

// Reads go round-robin over the reachable replicas; an unreachable one is
// skipped and reported unhealthy; RestoreState, LogPosition and auth read
// the primary.
func TestReadsGoToHealthyReplicas(t *testing.T) {
	primary, b, c := seeded(t, 1), seeded(t, 2), seeded(t, 3)
	db := open(t, postgres.Config{PrimaryURL: primary, ReplicaURLs: []string{b, unreachable, c}, RetryMin: time.Hour})
	seen := map[float64]int{}
	for range 12 {
		seen[readPrice(t, db)]++
	}
	if seen[2] == 0 || seen[3] == 0 || seen[1] != 0 || len(seen) != 2 {
		t.Errorf("closes read over 12 Candles = %v, want both replicas (2 and 3) and never the primary (1)", seen)
	}
	ticks, err := db.Ticks(t.Context(), "AAA", market.MinTS, market.MaxTS, 10)
	if err != nil || len(ticks) != 1 || ticks[0].Price == 1 {
		t.Errorf("Ticks() = %v, %v; want one tick from a replica", ticks, err)
	}
	health := db.Replicas()
	if len(health) != 3 || !health[0].Healthy || health[1].Healthy || !health[2].Healthy || health[1].Err == "" {
		t.Errorf("Replicas() = %+v, want the second unhealthy with an error", health)
	}
	if err := db.Check(t.Context()); err == nil || errors.Is(err, market.ErrUnavailable) {
		t.Errorf("Check() with a replica down = %v, want a degraded (non-ErrUnavailable) error", err)
	}
	cs, _, err := db.RestoreState(t.Context())
	if err != nil {
		t.Fatalf("RestoreState() error: %v", err)
	}
	for _, c := range cs {
		if c.Close != 1 {
			t.Fatalf("RestoreState() returned %+v, not the primary's candles", c)
		}
	}
}

func TestReadsFallBackToPrimary(t *testing.T) {
	primary := seeded(t, 1)
	db := open(t, postgres.Config{PrimaryURL: primary, ReplicaURLs: []string{unreachable, unreachable}, RetryMin: time.Hour})
	for range 3 {
		if got := readPrice(t, db); got != 1 {
			t.Fatalf("Candles() with every replica down read close %v, want the primary's 1", got)
		}
	}
	for _, h := range db.Replicas() {
		if h.Healthy {
			t.Errorf("Replicas() = %+v, want all unhealthy", db.Replicas())
		}
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Errorf("Ping() with replicas down = %v, want nil", err)
	}
}

// A replica that comes back is used again after its backoff, found by Run's
// pings without any read.
func TestReplicaRecovers(t *testing.T) {
	primary := seeded(t, 1)
	// The replica's database does not exist yet: connecting fails (3D000).
	lateName := testenv.DatabaseName()
	lateURL := testenv.WithDatabase(t, testenv.PostgresURL(t), lateName)
	db := open(t, postgres.Config{PrimaryURL: primary, ReplicaURLs: []string{lateURL},
		RetryMin: 20 * time.Millisecond, RetryMax: 40 * time.Millisecond, PingInterval: 20 * time.Millisecond})
	if got := readPrice(t, db); got != 1 {
		t.Fatalf("Candles() with the replica missing read close %v, want the primary's 1", got)
	}
	if db.Replicas()[0].Healthy {
		t.Fatal("replica healthy before it exists")
	}
	// Bring the replica's database into being.
	testenv.PostgresNamed(t, lateName)
	seed(t, lateURL, 4)

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := db.Run(ctx); err != nil {
			t.Errorf("Run() error: %v", err)
		}
	})
	defer func() { cancel(); wg.Wait() }()
	// Run's pings reach another process: no event to wait on.
	if !testenv.WaitFor(5*time.Second, func() bool { return db.Replicas()[0].Healthy }) {
		t.Fatalf("replica still unhealthy after 5 s: %+v", db.Replicas())
	}
	if got := readPrice(t, db); got != 4 {
		t.Errorf("Candles() after recovery read close %v, want the replica's 4", got)
	}
}

// With a real streaming replica (.ci/pg-replica.sh): what is written on the
// primary is read back through the replica once replayed, and the replica
// stays healthy.
func TestStreamingReplica(t *testing.T) {
	replica := testenv.Env(t, "FINDASH_TEST_POSTGRES_REPLICA_URL")
	testenv.LockReplica(t, false) // test/stage3 stops it for a while
	primary := testenv.Postgres(t)
	seed(t, primary.URL, 7)
	db := open(t, postgres.Config{PrimaryURL: primary.URL, ReplicaURLs: []string{primary.On(t, replica)}})
	// The replica replays the primary's WAL in its own time.
	var cs []market.Candle
	var err error
	if !testenv.WaitFor(10*time.Second, func() bool {
		cs, err = db.Candles(t.Context(), market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: day0, To: day0, Limit: 1})
		return err == nil && len(cs) == 1 && cs[0].Close == 7 && db.Replicas()[0].Healthy
	}) {
		t.Fatalf("replica never served the primary's candle: %v, %v, %+v", cs, err, db.Replicas())
	}
	if err := db.Check(t.Context()); err != nil {
		t.Errorf("Check() = %v, want nil", err)
	}
}

// Many goroutines through PgBouncer (transaction pooling), for writes and
// for reads (the bouncer as a "replica" too): no prepared-statement clash,
// no session state leaking between clients.
func TestPgBouncerConcurrency(t *testing.T) {
	bouncer := testenv.Env(t, "FINDASH_TEST_PGBOUNCER_URL")
	d := testenv.Postgres(t)
	direct, via := d.URL, d.On(t, bouncer)
	db := open(t, postgres.Config{PrimaryURL: via, ReplicaURLs: []string{via}, MigrateURL: direct, MaxConns: 8})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logSeq uint64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				if i%4 == 0 {
					mu.Lock()
					logSeq++
					ls := logSeq
					mu.Unlock()
					tk := []market.Tick{{Symbol: "AAA", TS: day0 + int64(ls), Price: float64(g + 1), Size: 1, Seq: ls}}
					r := market.NewRollup()
					r.Add(&tk[0])
					// Concurrent writers may arrive out of logSeq order:
					// the older one is then skipped, which is fine here.
					if err := db.WriteBatch(t.Context(), market.Unpartitioned, tk, r.Candles(), 0, ls, ls); err != nil {
						t.Errorf("WriteBatch() error: %v", err)
						return
					}
					continue
				}
				if _, err := db.Candles(t.Context(), market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: day0, To: day0, Limit: 1}); err != nil {
					t.Errorf("Candles() error: %v", err)
					return
				}
				if _, err := db.Ticks(t.Context(), "AAA", day0, day0+1000, 10); err != nil {
					t.Errorf("Ticks() error: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if h := db.Replicas(); !h[0].Healthy {
		t.Errorf("Replicas() = %+v, want healthy", h)
	}
}

// A replica's health is unknown, not "ok", until something reaches it: an
// unreachable replica read healthy for the first PingInterval (5 s) after a
// start. Run pings at once, so both replicas are known well within that.
func TestReplicaUnknownUntilChecked(t *testing.T) {
	primary, good := seeded(t, 1), seeded(t, 2)
	db := open(t, postgres.Config{PrimaryURL: primary, ReplicaURLs: []string{good, unreachable}, RetryMin: time.Hour})
	for _, h := range db.Replicas() {
		if h.Healthy || h.Err != "not checked yet" {
			t.Errorf("Replicas() before any check = %+v, want every one not healthy, not checked yet", db.Replicas())
		}
	}
	err := db.Check(t.Context())
	if err == nil || errors.Is(err, market.ErrUnavailable) {
		t.Errorf("Check() before any replica check = %v, want a degraded (non-ErrUnavailable) error", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := db.Run(ctx); err != nil {
			t.Errorf("Run() error: %v", err)
		}
	})
	defer func() { cancel(); wg.Wait() }()
	// Run's first pings reach other processes: no event to wait on. Well
	// under the 5 s PingInterval: Run pings at start.
	known := func() bool {
		h := db.Replicas()
		return h[0].Healthy && !h[1].Healthy && h[1].Err != "not checked yet"
	}
	if !testenv.WaitFor(3*time.Second, known) {
		t.Fatalf("Replicas() 3 s after Run started = %+v, want the first healthy and the second down", db.Replicas())
	}
	if err := db.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "5432") {
		t.Errorf("Check() = %v, want only the unreachable replica named", err)
	}
}

// A context marked by market.WithPrimaryReads reads the primary even while
// a replica is healthy: a report that waited for the primary's position
// (decision 0057) must not read a replica that has not replayed it yet.
func TestPrimaryReadsSkipReplicas(t *testing.T) {
	primary, replica := seeded(t, 1), seeded(t, 2)
	db := open(t, postgres.Config{PrimaryURL: primary, ReplicaURLs: []string{replica}, RetryMin: time.Hour})
	if got := readPrice(t, db); got != 2 {
		t.Fatalf("Candles() read close %v, want the replica's 2", got)
	}
	ctx := market.WithPrimaryReads(t.Context())
	cs, err := db.Candles(ctx, market.CandleQuery{Symbol: "AAA", Interval: market.Interval1m, From: day0, To: day0, Limit: 1})
	if err != nil || len(cs) != 1 || cs[0].Close != 1 {
		t.Errorf("Candles() with primary reads = %v, %v; want the primary's close 1", cs, err)
	}
}
