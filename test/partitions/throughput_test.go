package partitions_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/findash/findash/internal/testenv"
)

// TestThroughputByWorkers measures how fast 1, 2 and 4 partitioned workers
// (N = 8) persist (and evaluate) a backlog: the workers start and balance
// the partitions, are stopped (SIGSTOP), the ticks are ingested, and the
// time from resuming them all (SIGCONT) to the moment every tick is stored
// is the catch-up. Each worker's CPU (user + system, /proc) over the run says
// whether the work is divided (CPU per tick summed over the workers stays
// flat) or duplicated (it grows with the workers).
//
// A measurement, not a check: it runs only with
// FINDASH_TEST_PARTITION_BENCH=1 (under the heavy lock: flock
// /work/wt/.heavy.lock timeout 900 go test ./test/partitions -run
// Throughput -v), with FINDASH_TEST_POSTGRES_URL. It fails only if a tick
// is lost or stored twice.
func TestThroughputByWorkers(t *testing.T) {
	if os.Getenv("FINDASH_TEST_PARTITION_BENCH") != "1" {
		t.Skip("a measurement: set FINDASH_TEST_PARTITION_BENCH=1 (and hold the heavy lock)")
	}
	bin := build(t)
	batches := 300 // of 1,024 ticks (16 per symbol, 64 symbols)
	if v, err := strconv.Atoi(os.Getenv("FINDASH_TEST_PARTITION_BATCHES")); err == nil && v > 0 {
		batches = v
	}
	for _, n := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("workers=%d", n), func(t *testing.T) {
			db := testenv.Postgres(t)
			h := setup(t, bin, db.URL)
			// Leases outlive the pause below (SIGSTOP, while the backlog is
			// ingested), so that ownership does not move meanwhile; rounds
			// are TTL/3 = 15 s.
			h.env = append(h.env, "FINDASH_LEASE_TTL=45s")
			h.addWorkers(t, n)
			h.balance(t, 90*time.Second)
			// The backlog is ingested with the workers stopped, then they
			// all resume at once: the catch-up is the persisting alone.
			for _, w := range h.workers {
				w.cmd.Process.Signal(syscall.SIGSTOP)
			}
			f := &feeder{base: "http://" + h.ingest, key: h.key, ts0: time.Now().Add(-2 * time.Hour).UnixMilli()}
			f.run(context.Background(), batches)
			total := f.acked.Load()
			if total != int64(batches*1024) {
				t.Fatalf("%d of %d ticks acknowledged", total, batches*1024)
			}
			cpu0 := make([]time.Duration, n)
			for i, w := range h.workers {
				cpu0[i] = procCPU(t, w.cmd.Process.Pid)
			}
			owned := time.Now()
			for _, w := range h.workers {
				w.cmd.Process.Signal(syscall.SIGCONT)
			}
			var rows, candles int64
			if !testenv.Poll(600*time.Second, 50*time.Millisecond, func() bool {
				rows, candles = counts(t, db.URL)
				return rows >= total
			}) {
				t.Fatalf("%d of %d ticks stored in 600s", rows, total)
			}
			took := time.Since(owned)
			// The candles are written with the ticks, in one transaction.
			if rows, candles = counts(t, db.URL); rows != total || candles != total {
				t.Errorf("stored %d ticks, 1d candles count %d; want %d", rows, candles, total)
			}
			var per []string
			var sum time.Duration
			for i, w := range h.workers {
				c := procCPU(t, w.cmd.Process.Pid) - cpu0[i]
				sum += c
				per = append(per, fmt.Sprintf("%.1f", float64(c.Microseconds())/float64(total)))
			}
			t.Logf("RESULT workers=%d ticks=%d catch-up=%s ticks/s=%.0f cpu µs/tick (sum)=%.1f per worker=[%s] load=%s",
				n, total, took.Round(time.Millisecond), float64(total)/took.Seconds(),
				float64(sum.Microseconds())/float64(total), strings.Join(per, " "), loadavg())
		})
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

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
