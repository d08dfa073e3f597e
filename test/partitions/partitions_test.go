// Package partitions_test runs partitioned workers as real processes
// (decision 0042): several `findash serve --roles worker` sharing one NATS
// server and one PostgreSQL database, an ingest process in front.
package partitions_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/findash/findash/internal/testenv"
)

const parts = 8

// TestWorkersFailover: three workers share 8 partitions; ticks of 64
// symbols are ingested while one worker is killed with -9. Its partitions
// are owned again within 10 s (measured from the kill to the moment the
// survivors' findash_partition_owned sums to 8), and every acknowledged
// tick is stored exactly once: the ticks table holds exactly the acked
// ticks, and the 1d candles count each once.
//
// Needs FINDASH_TEST_POSTGRES_URL (skips without, fails with
// FINDASH_TEST_REQUIRE=1). NATS is a server started in this test process
// and reached over TCP: the stream's name and partition transform are
// global to a server, so a shared one (FINDASH_TEST_NATS_URL) would mix
// this test's log with other tests'.
func TestWorkersFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	db := testenv.Postgres(t)
	h := start(t, db.URL, 3)
	h.balance(t, 30*time.Second) // the victim then owns its share, not all 8

	// Ingest 64 symbols × batches while killing worker 0 mid-stream.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &feeder{base: "http://" + h.ingest, key: h.key, ts0: time.Now().Add(-2 * time.Hour).UnixMilli()}
	var posting sync.WaitGroup
	posting.Add(1)
	go func() { defer posting.Done(); f.run(ctx, 400) }()
	if !testenv.WaitFor(30*time.Second, func() bool { return f.acked.Load() >= 100*64 }) {
		t.Fatalf("only %d ticks acknowledged in 30s", f.acked.Load())
	}
	victim := h.workers[0]
	lost := owned(t, victim.admin)
	if len(lost) == 0 {
		t.Fatalf("worker 0 owns no partition before the kill: %v", lost)
	}
	killed := time.Now()
	victim.cmd.Process.Signal(syscall.SIGKILL)
	var moved time.Duration
	if !testenv.Poll(20*time.Second, 100*time.Millisecond, func() bool {
		n := 0
		for _, w := range h.workers[1:] {
			n += len(owned(t, w.admin))
		}
		moved = time.Since(killed)
		return n == parts
	}) {
		t.Fatalf("the killed worker's partitions %v not taken over within 20s", lost)
	}
	t.Logf("kill -9 of a worker owning partitions %v: all %d owned again after %s (lease TTL 6s)", lost, parts, moved.Round(10*time.Millisecond))
	if moved > 10*time.Second {
		t.Errorf("takeover took %s, want < 10s", moved)
	}
	posting.Wait()
	acked := f.acked.Load()

	// Every acknowledged tick exactly once.
	var rows, candleCount int64
	if !testenv.Poll(90*time.Second, 500*time.Millisecond, func() bool {
		rows, candleCount = counts(t, db.URL)
		return rows >= acked && candleCount >= acked
	}) {
		t.Fatalf("stored %d ticks (1d candles count %d), want %d acknowledged", rows, candleCount, acked)
	}
	if rows != acked || candleCount != acked {
		t.Errorf("stored %d ticks, 1d candles count %d; want both %d (acknowledged): lost or written twice", rows, candleCount, acked)
	}
	t.Logf("%d acknowledged ticks, %d rows, 1d candles count %d", acked, rows, candleCount)
}

// harness is the processes of one test.
type harness struct {
	parts   int // the log's partitions (FINDASH_LOG_PARTITIONS)
	bin     string
	key     string
	ingest  string // host:port of the ingest+api process
	workers []*proc
	env     []string
}

type proc struct {
	cmd   *exec.Cmd
	admin string
}

// start builds findash, starts NATS, an ingest+api process and n workers
// and waits until the workers own every partition.
func start(t *testing.T, dbURL string, n int) *harness {
	t.Helper()
	h := setup(t, build(t), dbURL)
	h.addWorkers(t, n)
	return h
}

// setup starts NATS and an ingest+api process of a log of 8 partitions
// and creates an API key.
func setup(t *testing.T, bin, dbURL string) *harness {
	t.Helper()
	return setupN(t, bin, dbURL, parts)
}

// setupN is setup with n partitions.
func setupN(t *testing.T, bin, dbURL string, n int) *harness {
	t.Helper()
	h := &harness{bin: bin, parts: n}
	natsURL := natsServer(t)
	h.env = cleanEnv(
		"FINDASH_DATABASE_URL="+dbURL,
		"FINDASH_NATS_URL="+natsURL,
		"FINDASH_LOG_PARTITIONS="+strconv.Itoa(n),
		"FINDASH_LEASE_TTL=6s",
		"FINDASH_FEED=none",
		"FINDASH_INGEST_RATE_LIMIT=0",
		"FINDASH_API_RATE_LIMIT=0",
		"FINDASH_MAX_SYMBOLS=-1",
		"FINDASH_SECRET_KEY=partitions-test-secret-key-0123456789",
		"FINDASH_LOG_FORMAT=json",
	)
	cmd := exec.Command(h.bin, "user", "create", "--email", "parts@example.com", "--api-key")
	cmd.Env = append(h.env, "FINDASH_DATA_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("findash user create: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`api key[^:]*: (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no API key printed:\n%s", out)
	}
	h.key = string(m[1])
	ing := h.serve(t, "ingest", "ingest,api")
	h.ingest = ing.http
	return h
}

// addWorkers starts n workers and waits until they own every partition.
func (h *harness) addWorkers(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		w := h.serve(t, fmt.Sprintf("worker-%d", i), "worker")
		h.workers = append(h.workers, &proc{cmd: w.cmd, admin: w.admin})
	}
	// Every partition owned before ingest starts.
	if !testenv.Poll(30*time.Second, 200*time.Millisecond, func() bool {
		c := 0
		for _, w := range h.workers {
			c += len(owned(t, w.admin))
		}
		return c == h.parts
	}) {
		t.Fatalf("the workers did not come to own the %d partitions within 30s", h.parts)
	}
}

// balance waits until no worker owns more than its share, ceil(parts / workers),
// and the partitions are all owned: the first worker to start takes all 8
// and hands the extra ones over a round or two later.
func (h *harness) balance(t *testing.T, within time.Duration) {
	t.Helper()
	share := (h.parts + len(h.workers) - 1) / len(h.workers)
	if !testenv.Poll(within, 200*time.Millisecond, func() bool {
		total := 0
		for _, w := range h.workers {
			o := len(owned(t, w.admin))
			if o > share {
				return false
			}
			total += o
		}
		return total == h.parts
	}) {
		t.Fatalf("the %d workers did not balance to %d partitions each within %s", len(h.workers), share, within)
	}
}

type served struct {
	cmd         *exec.Cmd
	http, admin string
}

// serve starts `findash serve` with roles and waits for /readyz.
func (h *harness) serve(t *testing.T, name, roles string) served {
	t.Helper()
	s := served{http: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), admin: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	s.cmd = exec.Command(h.bin, "serve")
	s.cmd.Env = append(h.env, "FINDASH_ROLES="+roles, "FINDASH_HTTP_ADDR="+s.http, "FINDASH_ADMIN_ADDR="+s.admin,
		"FINDASH_DATA_DIR="+filepath.Join(t.TempDir(), "data"))
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			lines := strings.Split(string(b), "\n")
			t.Logf("--- %s log (last 30 lines):\n%s", name, strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
	})
	testenv.Eventually(t, 60*time.Second, func() bool {
		resp, err := http.Get("http://" + s.http + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "%s not ready", name)
	return s
}

var ownedLine = regexp.MustCompile(`^findash_partition_owned\{partition="(\d+)"\} 1$`)

// owned returns the partitions a worker's /metrics says it owns (none
// when it does not answer).
func owned(t *testing.T, admin string) []int {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var ps []int
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := ownedLine.FindStringSubmatch(sc.Text()); m != nil {
			p, _ := strconv.Atoi(m[1])
			ps = append(ps, p)
		}
	}
	return ps
}

// counts returns the stored ticks and the sum of the 1d candles' counts.
func counts(t *testing.T, url string) (rows, candles int64) {
	t.Helper()
	testenv.MustQueryPostgres(t, url, "SELECT (SELECT count(*) FROM ticks), (SELECT coalesce(sum(count), 0) FROM candles WHERE interval = '1d')", nil, &rows, &candles)
	return rows, candles
}

// feeder posts batches of one tick per symbol for 64 symbols, counting the
// ticks acknowledged (202).
type feeder struct {
	base, key string
	ts0       int64
	acked     atomic.Int64
}

// run posts batches [0, n) from four posters.
func (f *feeder) run(ctx context.Context, n int) {
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < n && ctx.Err() == nil; i += 4 {
				var sb strings.Builder
				for k := 0; k < 16; k++ { // 16 ticks per symbol per batch
					for s := range 64 {
						fmt.Fprintf(&sb, `{"symbol":"P%02d","ts":%d,"price":%d,"size":1}`+"\n", s, f.ts0+int64(i*16+k), 100+k)
					}
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", f.base+"/api/v1/ticks", strings.NewReader(sb.String()))
				req.Header.Set("Authorization", "Bearer "+f.key)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 202 {
					f.acked.Add(16 * 64)
				}
			}
		}()
	}
	wg.Wait()
}

func build(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "findash")
	cmd := exec.Command("go", "build", "-o", out, "github.com/findash/findash/cmd/findash")
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build findash: %v\n%s", err, b)
	}
	return out
}

// natsServer starts a NATS server with JetStream in this process on a free
// loopback port.
func natsServer(t *testing.T) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	return srv.ClientURL()
}

// cleanEnv is the environment without FINDASH_ variables, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FINDASH_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}
