package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/findash/findash/internal/testenv"
)

// startProcess runs the findash binary as its own process and waits until
// /readyz answers 200.
func startProcess(t *testing.T, bin, dataDir, httpAddr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data-dir", dataDir, "--http-addr", httpAddr,
		"--admin-addr", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), "--feed", "none", "--log-format", "json", "--ingest-rate-limit", "0")
	logf, err := os.Create(filepath.Join(t.TempDir(), "findash.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("process log:\n%s", b)
		}
	})
	testenv.Eventually(t, 30*time.Second, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "findash at %s not ready", httpAddr)
	return cmd
}

// TestKill9KeepsAcknowledgedTicks: every tick answered 202 survives a kill -9
// of the process: it is in the event log before the 202, and the persister
// catches up from the log on the next start.
func TestKill9KeepsAcknowledgedTicks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "findash")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "data")
	key := createAPIKey(t, dir)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	proc := startProcess(t, bin, dir, addr)

	// A second process on the same data dir refuses at once, naming the first.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	out, err := exec.CommandContext(ctx2, bin, "serve", "--data-dir", dir, "--http-addr", "127.0.0.1:0",
		"--admin-addr", "127.0.0.1:0", "--feed", "none", "--log-format", "json").CombinedOutput()
	cancel2()
	if err == nil || !strings.Contains(string(out), fmt.Sprintf("is used by another findash (pid %d)", proc.Process.Pid)) {
		t.Fatalf("second findash serve on the data dir = %v, want it to refuse naming pid %d:\n%s", err, proc.Process.Pid, out)
	}

	// Post batches from several goroutines and kill -9 in the middle.
	// 20 h back: batches of 500 ticks 250 ms apart stay behind the server
	// clock (ingest refuses ts past it) for 576 batches.
	ts0 := time.Now().Add(-20 * time.Hour).Truncate(time.Hour).UnixMilli()
	type result struct{ from, n, code int }
	results := make(chan result, 1000)
	ctx, stop := context.WithCancel(context.Background())
	var posters sync.WaitGroup
	var ackedSoFar atomic.Int64
	for w := 0; w < 4; w++ {
		posters.Add(1)
		go func() {
			defer posters.Done()
			for i := w; ctx.Err() == nil; i += 4 {
				from := i * 500
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/v1/ticks", strings.NewReader(ndjson("KILL", ts0, from, 500)))
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := http.DefaultClient.Do(req)
				code := 0
				if err == nil {
					code = resp.StatusCode
					resp.Body.Close()
				}
				if code == 202 {
					ackedSoFar.Add(1)
				}
				results <- result{from, 500, code}
				if err != nil {
					return
				}
			}
		}()
	}
	// Kill once 100 batches are acknowledged, with the four posters still
	// posting.
	if !testenv.WaitFor(30*time.Second, func() bool { return ackedSoFar.Load() >= 100 }) {
		stop()
		t.Fatalf("%d batches acknowledged within 30s, want 100 before the kill", ackedSoFar.Load())
	}
	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proc.Wait()
	stop()
	posters.Wait()
	close(results)
	acked := map[int]bool{}
	for r := range results {
		if r.code == 202 {
			acked[r.from] = true
		}
	}
	if len(acked) == 0 {
		t.Fatal("no batch was acknowledged before the kill")
	}

	// Restart on the same data dir: every acknowledged tick is stored.
	startProcess(t, bin, dir, addr)
	missing := 0
	// Each count pages through thousands of 1s candles: four a second.
	if !testenv.Poll(60*time.Second, 250*time.Millisecond, func() bool {
		got := countTicksByBatch(t, addr, ts0)
		missing = 0
		for from := range acked {
			if got[from] != 500 { // fewer: lost; more: counted twice
				missing++
			}
		}
		return missing == 0
	}) {
		t.Fatalf("%d of %d acknowledged batches not stored exactly once after kill -9 and restart", missing, len(acked))
	}
	t.Logf("%d acknowledged batches of 500 ticks all present after kill -9", len(acked))
}

// countTicksByBatch counts stored ticks of KILL per posted batch, from the
// 1s candles: ticks are 250 ms apart, so a batch of 500 covers 125 whole
// seconds and no 1s bucket straddles two batches.
func countTicksByBatch(t *testing.T, addr string, ts0 int64) map[int]int {
	t.Helper()
	got := map[int]int{}
	from := ts0
	for {
		url := fmt.Sprintf("http://%s/api/v1/candles/KILL?interval=1s&from=%d&to=%d&limit=1000", addr, from, ts0+int64(48*time.Hour/time.Millisecond))
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Data []candle `json:"data"`
		}
		err = json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range body.Data {
			first := int((c.Start - ts0) / 250) // index of the bucket's first tick
			got[(first/500)*500] += int(c.Count)
		}
		if len(body.Data) < 1000 {
			return got
		}
		from = body.Data[len(body.Data)-1].Start + 1000
	}
}
