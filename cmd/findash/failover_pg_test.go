package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/testenv"
)

// TestPostgresFailover kills the PostgreSQL primary under a running
// findash and promotes its streaming standby (decision 0050): ticks are
// POSTed throughout, findash is not restarted, and the test checks that
//   - every tick acknowledged with 202 — before, during and after the
//     outage — is in the new primary exactly once (ingest does not need
//     the database: the log holds the ticks, the persister writes them
//     when a primary answers again);
//   - reads keep answering from the standby while there is no primary;
//   - writes resume on the promoted standby by themselves, through the
//     multi-host --database-url with target_session_attrs=read-write;
//
// and logs the time from the kill to the first batch on the new primary.
//
// "synchronous": the recommended setup, every commit on the standby before
// it is acknowledged. "asynchronous, standby behind": the standby stops
// receiving WAL before the kill, so the promoted one lacks the last
// batches the persister committed; the persister must notice that the
// position went back and write them again from the log.
//
// Each cluster is the test's own (testenv.NewPGCluster), killed and
// removed at the end; it needs the PostgreSQL server binaries and is gated
// on FINDASH_TEST_POSTGRES_URL like the other PostgreSQL tests.
func TestPostgresFailover(t *testing.T) {
	t.Run("synchronous", func(t *testing.T) { testFailover(t, true) })
	t.Run("asynchronous, standby behind", func(t *testing.T) { testFailover(t, false) })
}

func testFailover(t *testing.T, synchronous bool) {
	c := testenv.NewPGCluster(t, testenv.PGClusterOptions{Synchronous: synchronous})
	testenv.ExecPostgres(t, c.Primary.URL("postgres"), "CREATE DATABASE findash")
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/findash?sslmode=disable&target_session_attrs=read-write",
		c.Primary.Port, c.Standby.Port)
	replica := c.Standby.URL("findash")
	testenv.Eventually(t, 10*time.Second, func() bool { return pgPing(replica) == nil }, "the database did not reach the standby")

	key := createAPIKeyIn(t, dsn)
	in := start(t, testConfig(t, t.TempDir(), "--database-url", dsn, "--database-replica-urls", replica))

	const sym = "PGFO"
	ts0 := time.Now().Add(-10 * time.Minute).UnixMilli()
	p := &failoverPoster{in: in, key: key, sym: sym, ts0: ts0, acked: make(map[int64]bool)}
	ctx, stopPosting := context.WithCancel(context.Background())
	posted := make(chan struct{})
	go func() { defer close(posted); p.run(ctx) }()
	defer func() { stopPosting(); <-posted }()

	// Some batches on the first primary.
	var before int
	testenv.Eventually(t, 30*time.Second, func() bool { before = countTicks(c.Primary.URL("findash"), sym); return before >= 50 },
		"no ticks reached the first primary")

	if !synchronous {
		// The standby stops streaming; the persister goes on committing
		// batches on the primary that the standby will never have.
		testenv.ExecPostgres(t, c.Standby.URL("postgres"), "ALTER SYSTEM SET primary_conninfo = ''")
		testenv.ExecPostgres(t, c.Standby.URL("postgres"), "SELECT pg_reload_conf()")
		testenv.Eventually(t, 10*time.Second, func() bool {
			var n int
			return c.Standby.QueryRow("SELECT count(*) FROM pg_stat_wal_receiver", &n) == nil && n == 0
		}, "the standby's WAL receiver did not stop")
		var behind int64
		if err := testenv.QueryPostgres(replica, "SELECT coalesce(max(seq), 0) FROM log_position WHERE name = 'persister'", nil, &behind); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, func() bool {
			var pos int64
			return testenv.QueryPostgres(c.Primary.URL("findash"), "SELECT coalesce(max(seq), 0) FROM log_position WHERE name = 'persister'", nil, &pos) == nil && pos >= behind+20
		}, "the persister did not write 20 more messages to the primary")
	}
	killed := time.Now()
	c.Primary.Kill()
	// The position the standby holds is where the new primary will start,
	// once it has replayed all the WAL it received: a synchronous commit is
	// acknowledged when the standby has flushed it, not replayed it, and
	// reading earlier could find an older position and time the first
	// batch on the new primary too early.
	testenv.Eventually(t, 10*time.Second, func() bool {
		var replayed bool
		return c.Standby.QueryRow("SELECT coalesce(pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn(), true)", &replayed) == nil && replayed
	}, "the standby did not replay the WAL it had received")
	var posAtKill int64
	if err := testenv.QueryPostgres(replica, "SELECT coalesce(max(seq), 0) FROM log_position WHERE name = 'persister'", nil, &posAtKill); err != nil {
		t.Fatalf("read the standby's position: %v", err)
	}
	testenv.Eventually(t, 15*time.Second, func() bool { return databaseDown(in) }, "/readyz never reported the primary down")
	// No primary: the instance stays ready (degraded: a load balancer keeps
	// sending it reads and ticks) and reads are answered by the standby.
	if code, body := get(t, in.url("/readyz")); code != http.StatusOK || !strings.Contains(body, `"degraded"`) {
		t.Errorf("/readyz with the primary down and the replica up = %d %s, want 200 degraded", code, body)
	}
	for i := range 5 {
		u := in.url(fmt.Sprintf("/api/v1/candles/%s?interval=1m&from=%d&to=%d&limit=%d", sym, ts0-60_000, ts0+60_000, 10+i)) // a new cache key each time
		if code, body := get(t, u); code != http.StatusOK || !strings.Contains(body, `"start"`) {
			t.Fatalf("GET candles with the primary down = %d %s, want 200 with candles from the standby", code, body)
		}
	}
	ackedInOutage := p.count()

	promoteStart := time.Now()
	if err := c.Standby.Promote(); err != nil {
		t.Fatal(err)
	}
	promoted := time.Now()
	newPrimary := c.Standby.URL("findash")
	testenv.Eventually(t, 30*time.Second, func() bool {
		var pos int64
		return testenv.QueryPostgres(newPrimary, "SELECT coalesce(max(seq), 0) FROM log_position WHERE name = 'persister'", nil, &pos) == nil && pos > posAtKill
	}, "no batch was written to the promoted standby (findash did not move to it)")
	firstWrite := time.Now()
	testenv.Eventually(t, 15*time.Second, func() bool { return !databaseDown(in) }, "/readyz kept the database down after the promotion")

	// More ticks on the new primary, then stop and compare.
	testenv.Eventually(t, 30*time.Second, func() bool { return p.count() >= ackedInOutage+100 }, "ingest stopped acknowledging ticks")
	stopPosting()
	<-posted
	acked, failed := p.result()
	var stored map[int64]int
	// Until every acknowledged tick is stored, or long enough that the
	// missing ones are missing for good (the comparison below says so).
	testenv.WaitFor(15*time.Second, func() bool {
		stored = storedTicks(t, newPrimary, sym)
		return len(stored) >= len(acked)
	})
	var lost, twice, extra int
	for ts := range acked {
		switch stored[ts] {
		case 0:
			lost++
		case 1:
		default:
			twice++
		}
	}
	for ts := range stored {
		if !acked[ts] {
			extra++ // sent but not acknowledged (a failed POST): allowed, counted
		}
	}
	if !synchronous && !strings.Contains(in.logs.String(), "persisted position is below what this persister wrote") {
		t.Error("the persister did not log that the promoted standby's position went back")
	}
	if lost > 0 || twice > 0 {
		t.Errorf("of %d acknowledged ticks, %d are missing from the new primary and %d stored more than once", len(acked), lost, twice)
	}
	// A tick stored again collapses on the ticks' unique key, a candle merged
	// again does not: the candles must count every stored tick once (each
	// has size 1).
	checkCandleSums(t, newPrimary, sym)
	t.Logf("failover: %d ticks acknowledged (%d stored on the first primary before the kill, POSTs failed: %d, stored unacknowledged: %d); "+
		"kill → promote started %v, pg_ctl promote %v, promoted → first batch %v, kill → first batch on the new primary %v",
		len(acked), before, failed, extra, promoteStart.Sub(killed).Round(time.Millisecond), promoted.Sub(promoteStart).Round(time.Millisecond),
		firstWrite.Sub(promoted).Round(time.Millisecond), firstWrite.Sub(killed).Round(time.Millisecond))
}

// failoverPoster POSTs one tick at a time (ts = ts0 + i, so each tick is
// told apart by its ts) every 5 ms and records which were acknowledged.
type failoverPoster struct {
	in       *instance
	key, sym string
	ts0      int64

	mu     sync.Mutex
	acked  map[int64]bool
	failed int
}

func (p *failoverPoster) run(ctx context.Context) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: 10 * time.Second}
	for i := int64(0); ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ts := p.ts0 + i
		body := fmt.Sprintf(`{"symbol":%q,"ts":%d,"price":%d,"size":1}`, p.sym, ts, 100+i%50)
		req, _ := http.NewRequest("POST", p.in.url("/api/v1/ticks"), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+p.key)
		resp, err := client.Do(req)
		ok := err == nil && resp.StatusCode == http.StatusAccepted
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		p.mu.Lock()
		if ok {
			p.acked[ts] = true
		} else {
			p.failed++
		}
		p.mu.Unlock()
	}
}

func (p *failoverPoster) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

func (p *failoverPoster) result() (map[int64]bool, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked, p.failed
}

// checkCandleSums checks that sym's 1m and 1d candles in the database at
// url sum to its stored ticks, in count and in volume (every tick has
// size 1).
func checkCandleSums(t *testing.T, url, sym string) {
	t.Helper()
	var ticks, count1m, count1d int64
	var vol1m, vol1d float64
	// One statement: one snapshot of ticks and candles.
	err := testenv.QueryPostgres(url, `SELECT (SELECT count(*) FROM ticks WHERE symbol = $1),
		(SELECT coalesce(sum(count), 0)::bigint FROM candles WHERE symbol = $1 AND interval = '1m'),
		(SELECT coalesce(sum(volume), 0) FROM candles WHERE symbol = $1 AND interval = '1m'),
		(SELECT coalesce(sum(count), 0)::bigint FROM candles WHERE symbol = $1 AND interval = '1d'),
		(SELECT coalesce(sum(volume), 0) FROM candles WHERE symbol = $1 AND interval = '1d')`, []any{sym},
		&ticks, &count1m, &vol1m, &count1d, &vol1d)
	if err != nil {
		t.Fatalf("read tick and candle sums: %v", err)
	}
	if ticks == 0 || count1m != ticks || vol1m != float64(ticks) || count1d != ticks || vol1d != float64(ticks) {
		t.Errorf("%d ticks stored; candles 1m count %d volume %v, 1d count %d volume %v: want each equal to the ticks (a candle merged twice or missing)",
			ticks, count1m, vol1m, count1d, vol1d)
	}
}

// httpTimeout bounds each GET of the test, so a server that stops
// answering fails the test instead of hanging it.
const httpTimeout = 10 * time.Second

// databaseDown reports whether in's /readyz says its database_primary
// check is down.
func databaseDown(in *instance) bool { return in.readyCheck("database_primary") == "down" }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: httpTimeout}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// countTicks is the number of sym's ticks in the database at url (0 if it
// cannot be read).
func countTicks(url, sym string) int {
	var n int
	testenv.QueryPostgres(url, "SELECT count(*) FROM ticks WHERE symbol = $1", []any{sym}, &n)
	return n
}

// storedTicks returns how many rows of sym the database at url holds per ts.
func storedTicks(t *testing.T, url, sym string) map[int64]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", redactURL(url), err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	rows, err := c.Query(ctx, "SELECT ts, count(*) FROM ticks WHERE symbol = $1 GROUP BY ts", sym)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int64]int)
	var ts int64
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&ts, &n}, func() error { out[ts] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}
