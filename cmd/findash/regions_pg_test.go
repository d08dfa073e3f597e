package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/testenv"
)

// TestTwoRegionsOnReplicas runs the two regions of TestTwoRegions on real
// PostgreSQL (decision 0036): one primary that both regions write to, and
// one streaming replica per region that its api reads from. Region b's
// replay is paused: a candle a's worker has written to the primary shows in
// region a (its replica replays) but not in b, although b's log and live
// state have the ticks; resumed, it shows in b too. So each region reads
// its own replica — not the primary, not the other region's — and writes go
// to the one primary. During a partition of the NATS link b keeps
// answering reads from its replica.
//
// Needs FINDASH_TEST_POSTGRES_URL (the primary) and two streaming replicas
// of it: FINDASH_TEST_POSTGRES_REPLICA_URL (region a's, as for the other
// replica tests) and FINDASH_TEST_POSTGRES_REPLICA_B_URL (region b's):
//
//	.ci/pg-replica.sh                                                   # 5433
//	PG_REPLICA_PORT=5434 PG_REPLICA_DIR=/tmp/findash-pg-replica-b .ci/pg-replica.sh
//
// The replicas' database names are replaced by this test's database.
func TestTwoRegionsOnReplicas(t *testing.T) {
	primary := testenv.Postgres(t)
	replA := testenv.WithDatabase(t, testenv.Env(t, "FINDASH_TEST_POSTGRES_REPLICA_URL"), primary.Name)
	replB := testenv.WithDatabase(t, testenv.Env(t, "FINDASH_TEST_POSTGRES_REPLICA_B_URL"), primary.Name)
	for _, r := range []string{replA, replB} {
		testenv.Eventually(t, 30*time.Second, func() bool { return pgPing(r) == nil }, "the test database did not reach replica %s", redactURL(r))
	}
	natsA := testenv.NATSRegion(t, "a", "")
	link := newRegionLink(t, natsA.LeafAddr)
	natsB := testenv.NATSRegion(t, "b", link.p.Listen)
	testenv.Eventually(t, 10*time.Second, natsB.Linked, "region b's leafnode to a never came up")

	a := start(t, testConfig(t, t.TempDir(), "--nats-url", natsA.URL, "--region", "a",
		"--database-url", primary.URL, "--database-replica-urls", replA))
	key := createAPIKeyIn(t, primary.URL) // a write: to the primary, read back through a's replica
	b := start(t, testConfig(t, t.TempDir(), "--nats-url", natsB.URL, "--region", "b",
		"--roles", "ingest,gateway,api", "--stream-mirror-domain", "a", "--region-stale-after", "2s",
		"--database-url", primary.URL, "--database-replica-urls", replB))

	const sym = "REPL-X"
	m0 := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	m1 := m0.Add(time.Minute)
	// post sends a tick in minute m (a closed bucket: its candle is read
	// from the store) and then one now (so the live state's open candle is
	// the current minute's, not m's), through region b's ingest.
	post := func(m time.Time, price int) {
		t.Helper()
		body := fmt.Sprintf(`{"symbol":%q,"ts":%d,"price":%d,"size":1}`+"\n"+`{"symbol":%q,"ts":%d,"price":1,"size":1}`,
			sym, m.Add(10*time.Second).UnixMilli(), price, sym, time.Now().UnixMilli())
		if code, resp := postTicks(t, b, key, body); code != http.StatusAccepted {
			t.Fatalf("POST /api/v1/ticks in region b = %d %s", code, resp)
		}
	}
	polls := 0
	// stored reports whether region in's API answers the 1m candle of m
	// (each poll a new limit: a new cache key, so the store is asked).
	stored := func(in *instance, m time.Time) bool {
		polls++
		u := in.url(fmt.Sprintf("/api/v1/candles/%s?interval=1m&from=%d&to=%d&limit=%d", sym, m0.UnixMilli(), m1.Add(time.Minute-1).UnixMilli(), 10+polls))
		resp, err := http.Get(u)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var out struct {
			Data []struct {
				Start int64 `json:"start"`
			} `json:"data"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
			return false
		}
		for _, c := range out.Data {
			if c.Start == m.UnixMilli() {
				return true
			}
		}
		return false
	}

	post(m0, 100)
	testenv.Eventually(t, 30*time.Second, func() bool { return stored(a, m0) && stored(b, m0) },
		"a tick ingested in b and persisted by a's worker did not show in both regions' candles")

	// Region b's replica stops replaying: b must stop seeing new candles.
	pgExec(t, replB, "SELECT pg_wal_replay_pause()")
	t.Cleanup(func() { pgExec(t, replB, "SELECT pg_wal_replay_resume()") }) // never leave a shared replica paused
	post(m1, 101)
	testenv.Eventually(t, 30*time.Second, func() bool { return stored(a, m1) }, "region a did not see the m1 candle")
	if !pgHasCandle(t, primary.URL, sym, m1) {
		t.Fatal("the m1 candle is not on the primary: a's worker should have written it there")
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if stored(b, m1) {
			t.Fatal("region b showed the m1 candle while its replica's replay was paused: it does not read (only) its own replica")
		}
		time.Sleep(100 * time.Millisecond) // repeated reads over a window, not waiting for an event
	}
	pgExec(t, replB, "SELECT pg_wal_replay_resume()")
	resumed := time.Now()
	testenv.Eventually(t, 30*time.Second, func() bool { return stored(b, m1) }, "region b did not see the m1 candle after its replica resumed")
	t.Logf("region b's replica paused: m1 absent in b for 2 s while present in a and on the primary; resumed: in b after %v",
		time.Since(resumed).Round(time.Millisecond))

	// A partition of the NATS link: b keeps reading from its replica.
	link.toxic("timeout", `"timeout":0`)
	testenv.Eventually(t, 15*time.Second, func() bool { return b.regionStale() }, "region b's readiness never said region_link down")
	if !stored(b, m0) || !stored(b, m1) {
		t.Fatal("region b stopped answering candles from its replica during the partition")
	}
	link.remove("timeout")
}

// regionStale reports whether in's /readyz says its region link is down.
func (in *instance) regionStale() bool {
	resp, err := http.Get(in.url("/readyz"))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var out struct {
		Checks map[string]struct {
			Status string `json:"status"`
		} `json:"checks"`
	}
	return json.NewDecoder(resp.Body).Decode(&out) == nil && out.Checks["region_link"].Status == "down"
}

// createAPIKeyIn creates a user with an API key in the PostgreSQL database
// at url and returns the key.
func createAPIKeyIn(t *testing.T, url string) string {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"user", "create", "--email", "regions@example.com", "--api-key",
		"--database-url", url, "--data-dir", t.TempDir(), "--log-format", "json"}, nil, nil, &out, &errb)
	if err != nil {
		t.Fatalf("user create: %v\n%s", err, errb.String())
	}
	m := regexp.MustCompile(`api key[^:]*: (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("user create printed no API key: %q", out.String())
	}
	return m[1]
}

func pgPing(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	return c.Close(ctx)
}

func pgExec(t *testing.T, url, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", redactURL(url), err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s on %s: %v", sql, redactURL(url), err)
	}
}

// pgHasCandle reports whether the database at url holds sym's 1m candle starting at m.
func pgHasCandle(t *testing.T, url, sym string, m time.Time) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM candles WHERE symbol = $1 AND interval = '1m' AND start = $2", sym, m.UnixMilli()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// redactURL is url without its password, for messages.
func redactURL(url string) string {
	if i, j := strings.Index(url, "://"), strings.LastIndex(url, "@"); i >= 0 && j > i {
		if k := strings.Index(url[i+3:j], ":"); k >= 0 {
			return url[:i+3+k] + ":xxx" + url[j:]
		}
	}
	return url
}
