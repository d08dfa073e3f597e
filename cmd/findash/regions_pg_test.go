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

	"github.com/findash/findash/internal/testenv"
)

// TestTwoRegionsOnReplicas runs the two regions of TestTwoRegions on real
// PostgreSQL (decision 0036): one primary that both regions write to, and
// one streaming replica per region that its api reads from. Region b's
// replay is paused: a tick a's worker has written to the primary shows in
// region a's store (its replica replays) but not in b's, although b's log
// and live state have it; resumed, it shows in b too. So each region reads
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
	// post sends a tick in minute m and then one now, through region b's
	// ingest.
	post := func(m time.Time, price int) {
		t.Helper()
		body := fmt.Sprintf(`{"symbol":%q,"ts":%d,"price":%d,"size":1}`+"\n"+`{"symbol":%q,"ts":%d,"price":1,"size":1}`,
			sym, m.Add(10*time.Second).UnixMilli(), price, sym, time.Now().UnixMilli())
		if code, resp := postTicks(t, b, key, body); code != http.StatusAccepted {
			t.Fatalf("POST /api/v1/ticks in region b = %d %s", code, resp)
		}
	}
	polls := 0
	// stored reports whether region in's store holds the tick posted in
	// minute m, read through GET /api/v1/ticks (each poll a new limit: a new
	// cache key). Not the candles: those of a symbol the live state holds
	// are answered from memory (decision 0048), and this test is about the
	// database each region reads.
	stored := func(in *instance, m time.Time) bool {
		polls++
		u := in.url(fmt.Sprintf("/api/v1/ticks/%s?from=%d&to=%d&limit=%d", sym, m.UnixMilli(), m.Add(time.Minute-1).UnixMilli(), 10+polls%900))
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var out struct {
			Data []struct {
				TS int64 `json:"ts"`
			} `json:"data"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
			return false
		}
		return len(out.Data) > 0
	}

	post(m0, 100)
	testenv.Eventually(t, 30*time.Second, func() bool { return stored(a, m0) && stored(b, m0) },
		"a tick ingested in b and persisted by a's worker did not show in both regions' stores")

	// Region b's replica stops replaying: b must stop seeing new ticks in its store.
	testenv.ExecPostgres(t, replB, "SELECT pg_wal_replay_pause()")
	t.Cleanup(func() { testenv.ExecPostgres(t, replB, "SELECT pg_wal_replay_resume()") }) // never leave a shared replica paused
	post(m1, 101)
	testenv.Eventually(t, 30*time.Second, func() bool { return stored(a, m1) }, "region a did not see the m1 tick")
	if !pgHasCandle(t, primary.URL, sym, m1) {
		t.Fatal("the m1 candle is not on the primary: a's worker should have written it with the tick")
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if stored(b, m1) {
			t.Fatal("region b showed the m1 tick while its replica's replay was paused: it does not read (only) its own replica")
		}
		time.Sleep(100 * time.Millisecond) // repeated reads over a window, not waiting for an event
	}
	testenv.ExecPostgres(t, replB, "SELECT pg_wal_replay_resume()")
	resumed := time.Now()
	testenv.Eventually(t, 30*time.Second, func() bool { return stored(b, m1) }, "region b did not see the m1 tick after its replica resumed")
	t.Logf("region b's replica paused: m1 absent in b for 2 s while present in a and on the primary; resumed: in b after %v",
		time.Since(resumed).Round(time.Millisecond))

	// A partition of the NATS link: b keeps reading from its replica.
	link.toxic("timeout", `"timeout":0`)
	testenv.Eventually(t, 15*time.Second, func() bool { return b.regionStale() }, "region b's readiness never said region_link down")
	if !stored(b, m0) || !stored(b, m1) {
		t.Fatal("region b stopped answering ticks from its replica during the partition")
	}
	link.remove("timeout")
}

// regionStale reports whether in's /readyz says its region link is down.
func (in *instance) regionStale() bool { return in.readyCheck("region_link") == "down" }

// readyCheck returns the status /readyz gives in's check name ("" when
// /readyz does not answer or lists no such check).
func (in *instance) readyCheck(name string) string {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(in.url("/readyz"))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var out struct {
		Checks map[string]struct {
			Status string `json:"status"`
		} `json:"checks"`
	}
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return ""
	}
	return out.Checks[name].Status
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

// pgPing reports whether the database at url answers a query.
func pgPing(url string) error { return testenv.QueryPostgres(url, "SELECT 1", nil, new(int)) }

// pgHasCandle reports whether the database at url holds sym's 1m candle starting at m.
func pgHasCandle(t *testing.T, url, sym string, m time.Time) bool {
	t.Helper()
	var n int
	testenv.MustQueryPostgres(t, url, "SELECT count(*) FROM candles WHERE symbol = $1 AND interval = '1m' AND start = $2", []any{sym, m.UnixMilli()}, &n)
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
