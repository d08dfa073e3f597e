package hostile_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/findash/findash/internal/testenv"
)

// feed posts numbered ticks of one symbol and remembers which were
// acknowledged (202): tick n has size n, so the database can be checked
// tick by tick.
type feed struct {
	s      *server
	symbol string
	next   int
	acked  []int
	failed []int // not acknowledged: may be stored at most once
	codes  map[int]int
}

func newFeed(s *server, symbol string) *feed {
	return &feed{s: s, symbol: symbol, next: 1, codes: map[int]int{}}
}

// post sends a batch of n ticks and returns the status (0: transport error)
// and how long the answer took.
func (f *feed) post(n int) (int, time.Duration) {
	f.s.t.Helper()
	var b strings.Builder
	first := f.next
	now := time.Now().UnixMilli()
	for i := range n {
		fmt.Fprintf(&b, `{"symbol":%q,"price":%d.5,"size":%d,"ts":%d}`+"\n", f.symbol, 100+f.next%7, f.next, now+int64(i))
		f.next++
	}
	req, _ := http.NewRequest("POST", f.s.URL+"/api/v1/ticks", strings.NewReader(b.String()))
	req.Header.Set("Authorization", "Bearer "+f.s.APIKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	start := time.Now()
	code := 0
	if resp, err := client.Do(req); err == nil {
		code = resp.StatusCode
		resp.Body.Close()
	}
	took := time.Since(start)
	f.codes[code]++
	for k := first; k < f.next; k++ {
		if code == http.StatusAccepted {
			f.acked = append(f.acked, k)
		} else {
			f.failed = append(f.failed, k)
		}
	}
	return code, took
}

// stored counts the rows of f's symbol in PostgreSQL (read directly, not
// through any proxy) by size, i.e. by tick number.
func (f *feed) stored(t *testing.T, dbURL string) map[int]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT size::bigint, count(*) FROM ticks WHERE symbol = $1 GROUP BY 1`, f.symbol)
	if err != nil {
		t.Fatalf("count stored ticks: %v", err)
	}
	got := map[int]int{}
	for rows.Next() {
		var size, n int64
		if err := rows.Scan(&size, &n); err != nil {
			t.Fatal(err)
		}
		got[int(size)] = int(n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// checkExactlyOnce waits until every acknowledged tick is stored, then
// fails on any acknowledged tick stored other than once, or any other
// tick stored more than once.
func (f *feed) checkExactlyOnce(t *testing.T, dbURL string) {
	t.Helper()
	var got map[int]int
	ok := testenv.WaitFor(60*time.Second, func() bool {
		got = f.stored(t, dbURL)
		for _, k := range f.acked {
			if got[k] == 0 {
				return false
			}
		}
		return true
	})
	missing, dup := 0, 0
	for _, k := range f.acked {
		switch got[k] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	for _, k := range f.failed {
		if got[k] > 1 {
			dup++
		}
	}
	if !ok || missing > 0 || dup > 0 {
		t.Fatalf("%s: %d acknowledged ticks, %d missing, %d stored more than once (answers %v)", f.symbol, len(f.acked), missing, dup, f.codes)
	}
	t.Logf("%s: %d acknowledged ticks stored exactly once (answers %v; %d unacknowledged)", f.symbol, len(f.acked), f.codes, len(f.failed))
}

// TestPostgresOutageIngest: at stage 2, PostgreSQL stopped, then
// partitioned (a black hole), while ingest goes on with a key this
// instance has seen: every POST is 202, promptly, and once the database is
// back every tick is stored exactly once (issue 13 item 5 and the proof's
// PostgreSQL case). The key cache's TTL is cut to 1 s so that the outage
// outlasts it: the key is served stale while the database is unreachable.
func TestPostgresOutageIngest(t *testing.T) {
	db := testenv.Postgres(t)
	pg := newLink(t, "postgres", hostPort(t, db.URL))
	s := startServer(t, options{user: "ingest@example.com", env: []string{
		"FINDASH_DATABASE_URL=" + throughLink(t, db.URL, pg),
		"FINDASH_APIKEY_CACHE_TTL=1s",
	}})
	f := newFeed(s, "FLT-PG")
	if code, _ := f.post(5); code != 202 {
		t.Fatalf("POST ticks with the database up = %d", code)
	}

	outage := func(name string, cut, heal func()) {
		t.Helper()
		cut()
		tick := time.NewTicker(100 * time.Millisecond) // paces the feed; not a wait for a condition
		defer tick.Stop()
		slowest := time.Duration(0)
		for i := 0; i < 30; i++ { // 3 s: past the cache's TTL
			<-tick.C
			code, took := f.post(10)
			slowest = max(slowest, took)
			if code != 202 {
				heal()
				t.Fatalf("%s: POST ticks %d = %d after %v, want 202 (answers so far %v)", name, i, code, took, f.codes)
			}
		}
		if slowest > 2*time.Second {
			t.Errorf("%s: slowest POST took %v, want < 2 s", name, slowest)
		}
		heal()
		t.Logf("%s: 30 POSTs answered 202, slowest %v", name, slowest)
	}
	outage("stopped", pg.Down, pg.Up)
	f.checkExactlyOnce(t, db.URL)
	outage("partitioned", pg.Partition, pg.Heal)
	f.checkExactlyOnce(t, db.URL)
	if v := s.Metric("findash_auth_apikey_cache_lookups_total", `result="stale"`); v == 0 {
		t.Errorf(`findash_auth_apikey_cache_lookups_total{result="stale"} = 0, want > 0`)
	}
}
