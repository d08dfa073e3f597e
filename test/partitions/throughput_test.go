package partitions_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/findash/findash/internal/testenv"
)

// TestThroughputByWorkers measures how fast 1, 2 and 4 partitioned workers
// (N = 8) persist and evaluate a backlog: the workers start and balance
// the partitions, are stopped (SIGSTOP), the ticks are ingested, and the
// time from resuming them all (SIGCONT) to the moment the workers' metrics
// say every tick is stored (findash_persist_ticks_total summed over the
// workers) is the persist catch-up; to the moment every tick is evaluated
// against the alerts (findash_alert_ticks_total summed; 256 alerts, 64 of
// which fire once) the alert catch-up. Each worker's CPU (user + system,
// /proc) over the run says whether the work is divided (CPU per tick summed
// over the workers stays flat) or duplicated (it grows with the workers).
//
// It checks that metrics summed over the workers are true: the persisted
// ticks summed equal the rows stored and the ticks ingested, the evaluated
// ticks summed equal the ticks ingested, the firings summed equal the
// events stored.
//
// A measurement: it runs only with FINDASH_TEST_PARTITION_BENCH=1 (under
// the heavy lock, see docs/benchmarks/stages.md), with
// FINDASH_TEST_POSTGRES_URL. FINDASH_TEST_PARTITION_REPEATS (default 1)
// repeats the 1, 2, 4 sequence; FINDASH_TEST_PARTITION_DB_LATENCY=1ms puts
// the workers' PostgreSQL behind a toxiproxy adding that latency each way
// (as a database in another zone), and runs every count both without and
// with it; FINDASH_TEST_PARTITION_N sets the partitions (default 8) and
// FINDASH_TEST_PARTITION_DB_PARAMS adds parameters to the workers' database
// URL (pool_max_conns=24), FINDASH_TEST_PARTITION_WORKERS the worker
// counts (default 1,2,4); FINDASH_TEST_PARTITION_PROFILE=dir writes a CPU profile, a block
// profile and an execution trace of the one-worker catch-up there.
func TestThroughputByWorkers(t *testing.T) {
	if os.Getenv("FINDASH_TEST_PARTITION_BENCH") != "1" {
		t.Skip("a measurement: set FINDASH_TEST_PARTITION_BENCH=1 (and hold the heavy lock)")
	}
	bin := build(t)
	batches := 300 // of 1,024 ticks (16 per symbol, 64 symbols)
	if v, err := strconv.Atoi(os.Getenv("FINDASH_TEST_PARTITION_BATCHES")); err == nil && v > 0 {
		batches = v
	}
	repeats := 1
	if v, err := strconv.Atoi(os.Getenv("FINDASH_TEST_PARTITION_REPEATS")); err == nil && v > 0 {
		repeats = v
	}
	latencies := []time.Duration{0}
	if v := os.Getenv("FINDASH_TEST_PARTITION_DB_LATENCY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond {
			t.Fatalf("FINDASH_TEST_PARTITION_DB_LATENCY=%q: want a duration of at least 1ms", v)
		}
		latencies = append(latencies, d)
	}
	profDir := os.Getenv("FINDASH_TEST_PARTITION_PROFILE")
	nparts := parts
	if v, err := strconv.Atoi(os.Getenv("FINDASH_TEST_PARTITION_N")); err == nil && v > 0 {
		nparts = v
	}
	// Appended to the workers' database URL, e.g. pool_max_conns=24.
	params := os.Getenv("FINDASH_TEST_PARTITION_DB_PARAMS")
	counts := []int{1, 2, 4}
	if v := os.Getenv("FINDASH_TEST_PARTITION_WORKERS"); v != "" {
		counts = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				t.Fatalf("FINDASH_TEST_PARTITION_WORKERS=%q: want worker counts, e.g. 1,2,4", v)
			}
			counts = append(counts, n)
		}
	}
	for r := range repeats {
		for _, lat := range latencies {
			for _, n := range counts {
				name := fmt.Sprintf("run=%d/db-latency=%s/workers=%d", r, lat, n)
				t.Run(name, func(t *testing.T) {
					prof := ""
					if profDir != "" && n == 1 && r == 0 {
						prof = filepath.Join(profDir, fmt.Sprintf("latency-%s", lat))
					}
					measure(t, bin, batches, nparts, n, lat, params, prof)
				})
			}
		}
	}
}

// measure runs one catch-up of batches × 1,024 ticks of a log of nparts
// partitions by n workers whose database connections see lat each way (0:
// none), params added to their database URL, and logs a RESULT line.
func measure(t *testing.T, bin string, batches, nparts, n int, lat time.Duration, params, prof string) {
	db := testenv.Postgres(t)
	h := setupN(t, bin, db.URL, nparts)
	createAlerts(t, db.URL)
	workerDB := db.URL
	if lat > 0 {
		workerDB = latencyProxy(t, db.URL, lat)
	}
	if params != "" {
		sep := "?"
		if strings.Contains(workerDB, "?") {
			sep = "&"
		}
		workerDB += sep + params
	}
	// Leases outlive the pause below (SIGSTOP, while the backlog is
	// ingested), so that ownership does not move meanwhile; rounds are
	// TTL/3 = 5 s.
	h.env = append(h.env, "FINDASH_LEASE_TTL=15s", "FINDASH_DATABASE_URL="+workerDB)
	if prof != "" {
		h.env = append(h.env, "FINDASH_PROFILE_BLOCK_RATE=10000")
	}
	h.addWorkers(t, n)
	h.balance(t, 60*time.Second)
	var block0 []byte
	if prof != "" {
		block0 = get(t, h.workers[0].admin, "/debug/pprof/block")
	}
	// The backlog is ingested with the workers stopped, then they all
	// resume at once: the catch-up is the persisting alone.
	for _, w := range h.workers {
		w.cmd.Process.Signal(syscall.SIGSTOP)
	}
	f := &feeder{base: "http://" + h.ingest, key: h.key, ts0: time.Now().Add(-2 * time.Hour).UnixMilli()}
	ingested := time.Now()
	f.run(context.Background(), batches)
	total := f.acked.Load()
	if total != int64(batches*1024) {
		t.Fatalf("%d of %d ticks acknowledged", total, batches*1024)
	}
	if d := time.Since(ingested); d > 8*time.Second {
		t.Logf("ingest took %s: the stopped workers' leases (TTL 15s) may have expired", d)
	}
	cpu0 := make([]time.Duration, n)
	for i, w := range h.workers {
		cpu0[i] = procCPU(t, w.cmd.Process.Pid)
	}
	pg0 := postgresCPU(t)
	busy0, all0 := machineCPU(t)
	resumed := time.Now()
	for _, w := range h.workers {
		w.cmd.Process.Signal(syscall.SIGCONT)
	}
	profiled := make(chan struct{})
	if prof != "" {
		go func() {
			defer close(profiled)
			save(t, prof+".trace", get(t, h.workers[0].admin, "/debug/pprof/trace?seconds=1"))
			save(t, prof+".cpu.pprof", get(t, h.workers[0].admin, "/debug/pprof/profile?seconds=3"))
		}()
	} else {
		close(profiled)
	}
	var persisted, evaluated time.Duration
	if !testenv.Poll(600*time.Second, 50*time.Millisecond, func() bool {
		p := sumMetric(h.workers, "findash_persist_ticks_total")
		a := sumMetric(h.workers, "findash_alert_ticks_total")
		if persisted == 0 && p >= total {
			persisted = time.Since(resumed)
		}
		if evaluated == 0 && a >= total {
			evaluated = time.Since(resumed)
		}
		return persisted > 0 && evaluated > 0
	}) {
		t.Fatalf("persisted %d, evaluated %d of %d ticks in 600s", sumMetric(h.workers, "findash_persist_ticks_total"),
			sumMetric(h.workers, "findash_alert_ticks_total"), total)
	}
	var per []string
	var sum time.Duration
	for i, w := range h.workers {
		c := procCPU(t, w.cmd.Process.Pid) - cpu0[i]
		sum += c
		per = append(per, fmt.Sprintf("%.1f", float64(c.Microseconds())/float64(total)))
	}
	pg := postgresCPU(t) - pg0
	busy1, all1 := machineCPU(t)
	took := time.Since(resumed)
	<-profiled
	if prof != "" {
		save(t, prof+".block0.pprof", block0)
		save(t, prof+".block.pprof", get(t, h.workers[0].admin, "/debug/pprof/block"))
	}
	// Metrics summed over the workers are true: what they say they
	// wrote is what is stored, once.
	rows, candles := counts(t, db.URL)
	if p := sumMetric(h.workers, "findash_persist_ticks_total"); rows != total || candles != total || p != total {
		t.Errorf("stored %d ticks, 1d candles count %d, findash_persist_ticks_total summed %d; want %d", rows, candles, p, total)
	}
	if a := sumMetric(h.workers, "findash_alert_ticks_total"); a != total {
		t.Errorf("findash_alert_ticks_total summed over the workers %d, want %d", a, total)
	}
	// Each of the 64 firing alerts fires once (then waits out its
	// cooldown); the evaluators commit a firing at once.
	fired := sumMetric(h.workers, "findash_alert_firings_total")
	if events := eventCount(t, db.URL); fired != 64 || events != 64 {
		t.Errorf("findash_alert_firings_total summed %d, %d events stored; want 64 and 64", fired, events)
	}
	t.Logf("RESULT partitions=%d db=%q db-latency=%s workers=%d ticks=%d persist=%s ticks/s=%.0f alerts=%s ticks/s=%.0f cpu µs/tick (sum)=%.1f per worker=[%s] "+
		"postgres cores=%.2f machine busy=%.0f%% load=%s",
		nparts, params, lat, n, total, persisted.Round(time.Millisecond), float64(total)/persisted.Seconds(),
		evaluated.Round(time.Millisecond), float64(total)/evaluated.Seconds(),
		float64(sum.Microseconds())/float64(total), strings.Join(per, " "),
		pg.Seconds()/took.Seconds(), 100*float64(busy1-busy0)/float64(all1-all0), loadavg())
}

// createAlerts gives the test's user 4 alerts on each of the 64 symbols
// the feeder posts (prices 100..115): "above 110" fires once, then its
// cooldown (300 s of tick time, more than the run spans) keeps it
// disarmed; the other three never fire but are evaluated on every tick.
func createAlerts(t *testing.T, url string) {
	t.Helper()
	testenv.ExecPostgres(t, url, `
INSERT INTO alerts (user_id, symbol, condition, threshold, created_at)
SELECT u.id, format('P%s', lpad(s::text, 2, '0')), c.condition, c.threshold, now() - interval '1 day'
FROM (SELECT min(id) AS id FROM users) u, generate_series(0, 63) s,
     (VALUES ('above', 110), ('above', 1000), ('below', 50), ('change_pct_above', 1000)) c(condition, threshold);
UPDATE alert_version SET version = version + 1`)
}

// eventCount returns the fired alert events stored.
func eventCount(t *testing.T, url string) (n int64) {
	t.Helper()
	testenv.MustQueryPostgres(t, url, "SELECT count(*) FROM alert_events", nil, &n)
	return n
}

// latencyProxy starts a toxiproxy in front of the database of url adding
// lat to every chunk each way, and returns url through it.
func latencyProxy(t *testing.T, url string, lat time.Duration) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	upstream := fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "postgres", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy: %v", err)
	}
	t.Cleanup(p.Stop)
	for _, stream := range []string{"upstream", "downstream"} {
		_, err := p.Toxics.AddToxicJson(strings.NewReader(fmt.Sprintf(
			`{"name":"latency_%s","type":"latency","stream":%q,"toxicity":1,"attributes":{"latency":%d}}`,
			stream, stream, lat.Milliseconds())))
		if err != nil {
			t.Fatalf("toxiproxy latency %s: %v", stream, err)
		}
	}
	return strings.Replace(url, upstream, p.Listen, 1)
}

// sumMetric sums every series of the counter or gauge name over the
// workers' /metrics.
func sumMetric(ws []*proc, name string) int64 {
	var sum float64
	for _, w := range ws {
		req, _ := http.NewRequest("GET", "http://"+w.admin+"/metrics", nil)
		req.Header.Set("Accept-Encoding", "identity") // no gzip: the workers' CPU is measured
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			rest, ok := strings.CutPrefix(line, name)
			if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
				continue
			}
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err == nil {
				sum += v
			}
		}
		resp.Body.Close()
	}
	return int64(sum)
}

// get returns the body of GET http://addr+path.
func get(t *testing.T, addr, path string) []byte {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return b
}

func save(t *testing.T, name string, b []byte) {
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Error(err)
	}
}

// procCPU is a process's user + system CPU time so far (/proc/<pid>/stat,
// clock ticks of 10 ms).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// postgresCPU is the user + system CPU time of every process named
// postgres (the server and its backends) so far; a backend that exited
// meanwhile is missed, so it is a lower bound.
func postgresCPU(t *testing.T) time.Duration {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var sum time.Duration
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(b)) == "postgres" {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			sum += time.Duration(ut+st) * 10 * time.Millisecond
		}
	}
	return sum
}

// machineCPU returns the machine's busy and total CPU time so far (the
// first line of /proc/stat; idle and iowait are not busy).
func machineCPU(t *testing.T) (busy, total time.Duration) {
	t.Helper()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:]
	for i, v := range f {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest time is already in user
			break
		}
		total += time.Duration(n) * 10 * time.Millisecond
		if i != 3 && i != 4 {
			busy += time.Duration(n) * 10 * time.Millisecond
		}
	}
	return busy, total
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
