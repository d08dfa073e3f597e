package partitions_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestLayoutMismatchRefused (decision 0044): with an instance running on a
// log of 8 partitions, a worker started with --log-partitions 4 exits at
// once with an error that names both counts and the way to change, and
// the log stays split into 8; a start with --log-partitions-from 8 changes
// it to 4, and from then on a start with 8 is refused. Real processes
// (SQLite each, no PostgreSQL needed) and a NATS server in this process.
func TestLayoutMismatchRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	h := &harness{bin: build(t)}
	natsURL := natsServer(t)
	h.env = cleanEnv(
		"FINDASH_NATS_URL="+natsURL,
		"FINDASH_LOG_PARTITIONS="+strconv.Itoa(parts),
		"FINDASH_FEED=none",
		"FINDASH_SECRET_KEY=partitions-test-secret-key-0123456789",
	)
	first := h.serve(t, "ingest", "ingest,api")
	if got := layoutOf(t, natsURL); got != "8" {
		t.Fatalf("the log records %q partitions, want 8", got)
	}

	out, err := h.refusedStart(t, "FINDASH_LOG_PARTITIONS=4")
	if err == nil {
		t.Fatalf("a worker with --log-partitions 4 on a log of 8 started:\n%s", out)
	}
	t.Logf("refused (%v):\n%s", err, out)
	for _, want := range []string{"log partition layout mismatch", "split into 8 partitions", "--log-partitions 4", "--log-partitions-from 8"} {
		if !strings.Contains(out, want) {
			t.Errorf("its output lacks %q:\n%s", want, out)
		}
	}
	if got := layoutOf(t, natsURL); got != "8" {
		t.Fatalf("after the refused start the log records %q partitions, want 8 still", got)
	}
	first.cmd.Process.Kill()
	first.cmd.Wait()

	h.env = append(h.env, "FINDASH_LOG_PARTITIONS=4", "FINDASH_LOG_PARTITIONS_FROM=8")
	changed := h.serve(t, "changed", "ingest,api")
	if got := layoutOf(t, natsURL); got != "4" {
		t.Fatalf("after the change the log records %q partitions, want 4", got)
	}
	changed.cmd.Process.Kill()
	changed.cmd.Wait()
	if out, err := h.refusedStart(t, "FINDASH_LOG_PARTITIONS=8", "FINDASH_LOG_PARTITIONS_FROM=-1"); err == nil || !strings.Contains(out, "split into 4 partitions") {
		t.Fatalf("a worker with 8 on the changed log: %v\n%s", err, out)
	}
}

// refusedStart runs a worker with env added and returns its output and
// exit error; it must exit within 30 s (it is expected to refuse).
func (h *harness) refusedStart(t *testing.T, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, "serve", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	cmd.Env = append(append(h.env, "FINDASH_ROLES=worker", "FINDASH_DATA_DIR="+filepath.Join(t.TempDir(), "data")), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the worker did not exit within 30s:\n%s", out)
	}
	return string(out), err
}

// layoutOf returns the partition count the tick stream records.
func layoutOf(t *testing.T, url string) string {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "FINDASH_TICKS")
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config.Metadata["findash_log_partitions"]
}
