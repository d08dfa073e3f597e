// Package stage3_test is the stage-3 integration test of the playbook: three
// findash processes behind HAProxy, on one PostgreSQL primary (through
// PgBouncer) with one streaming replica, Redis, and a three-node NATS
// JetStream cluster — every one a real process. See TestStage3ManyInstances.
package stage3_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/findash/findash/internal/testenv"
)

// proc is a child process started by the test; Cleanup kills it if it is
// still running and shows the end of its output when the test failed.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.SyncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

func startProc(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &testenv.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- last output of %s (%s):\n%s", name, p.state(), p.out.Tail(40))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) state() string {
	if !p.exited() {
		return "running"
	}
	if p.err == nil {
		return "exited 0"
	}
	return p.err.Error()
}

func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		p.cmd.Process.Signal(sig)
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// wait waits up to d for the process to exit and returns its result.
func (p *proc) wait(d time.Duration) (error, bool) {
	select {
	case <-p.done:
		return p.err, true
	case <-time.After(d):
		return nil, false
	}
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func waitListening(t *testing.T, p *proc, addr string, d time.Duration) {
	t.Helper()
	if !testenv.WaitFor(d, func() bool { return p.exited() || listening(addr) }) || p.exited() {
		t.Fatalf("%s is not listening on %s after %v (%s):\n%s", p.name, addr, d, p.state(), p.out.Tail(30))
	}
}

// lookBin finds a program in PATH or in the sbin directories Debian puts
// servers in.
func lookBin(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// buildFindash builds ./cmd/findash once into a temporary directory.
func buildFindash(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "findash")
	// go test puts its own GOROOT/bin first in PATH: this is the go running the test
	cmd := exec.Command("go", "build", "-o", out, "github.com/findash/findash/cmd/findash")
	cmd.Dir = "../.." // the module root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build findash: %v\n%s", err, b)
	}
	return out
}

// cleanEnv is the test's environment without any FINDASH_ variable, so the
// shell running the test cannot change the instances' configuration.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FINDASH_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// natsCluster starts three nats-server processes with JetStream, each
// with its own store directory, routed to each other; it returns the
// client URLs.
func natsCluster(t *testing.T, bin string) ([]string, []*proc) {
	t.Helper()
	var client, cluster [3]int
	for i := range 3 {
		client[i], cluster[i] = testenv.FreePort(t), testenv.FreePort(t)
	}
	var urls []string
	var procs []*proc
	for i := range 3 {
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", cluster[j]))
			}
		}
		p := startProc(t, fmt.Sprintf("nats-%d", i+1), cleanEnv(), bin,
			"-a", "127.0.0.1", "-p", fmt.Sprint(client[i]), "-n", fmt.Sprintf("nats-%d", i+1),
			"-js", "-sd", filepath.Join(t.TempDir(), "js"),
			"--cluster_name", "findash", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", cluster[i]),
			"--routes", strings.Join(routes, ","))
		procs = append(procs, p)
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", client[i]))
	}
	for i, p := range procs {
		waitListening(t, p, fmt.Sprintf("127.0.0.1:%d", client[i]), 10*time.Second)
	}
	// JetStream is usable once the cluster has a meta leader.
	ok := testenv.WaitFor(20*time.Second, func() bool {
		for _, p := range procs {
			if p.out.Contains("JetStream cluster new metadata leader") || p.out.Contains("Self is new JetStream cluster metadata leader") {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Logf("no JetStream meta leader logged within 20s; going on (findash retries)")
	}
	return urls, procs
}

// redisServer starts a private redis-server on port (no persistence).
func redisServer(t *testing.T, bin string, port int) *proc {
	t.Helper()
	p := startProc(t, "redis", cleanEnv(), bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	waitListening(t, p, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	return p
}

// haproxyUp renders deploy/haproxy/haproxy-test.cfg.tmpl, checks it with
// haproxy -c and starts haproxy in the foreground.
func haproxyUp(t *testing.T, bin string, front, stats int, backends []string) *proc {
	t.Helper()
	tmpl, err := os.ReadFile("../../deploy/haproxy/haproxy-test.cfg.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer("{{FRONT_PORT}}", fmt.Sprint(front), "{{STATS_PORT}}", fmt.Sprint(stats),
		"{{BACKEND_1}}", backends[0], "{{BACKEND_2}}", backends[1], "{{BACKEND_3}}", backends[2])
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(r.Replace(string(tmpl))), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, b)
	}
	p := startProc(t, "haproxy", cleanEnv(), bin, "-f", cfg)
	waitListening(t, p, fmt.Sprintf("127.0.0.1:%d", front), 10*time.Second)
	return p
}

// server is one row of HAProxy's stats CSV.
type server struct {
	status   string // UP, DOWN, MAINT, …
	sessions int    // total sessions (requests, in http mode with keep-alive: connections) so far
}

// haproxyServers returns the servers of backend findash_http from the
// stats CSV, by name.
func haproxyServers(statsPort int) (map[string]server, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/stats;csv", statsPort))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	st := map[string]server{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) > 17 && f[0] == "findash_http" && strings.HasPrefix(f[1], "findash-") {
			n, _ := strconv.Atoi(f[7])
			st[f[1]] = server{status: f[17], sessions: n}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(st) == 0 {
		return nil, errors.New("no findash_http servers in the stats CSV")
	}
	return st, nil
}

// replica controls the local streaming replica made by .ci/pg-replica.sh
// with pg_ctl, as the postgres user when the test runs as root.
type replica struct {
	pgCtl, dir, addr string
}

func (r replica) run(ctx context.Context, args string) error {
	line := r.pgCtl + " -D " + r.dir + " " + args
	var cmd *exec.Cmd
	if os.Getuid() == 0 {
		cmd = exec.CommandContext(ctx, "su", "postgres", "-s", "/bin/sh", "-c", line)
	} else {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", line)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl %s: %w: %s", args, err, b)
	}
	return nil
}

func (r replica) stop(ctx context.Context) error { return r.run(ctx, "-m fast -w -t 60 stop") }

// start starts the replica unless it is already listening.
func (r replica) start(ctx context.Context) error {
	if listening(r.addr) {
		return nil
	}
	return r.run(ctx, "-l "+r.dir+"/server.log -w -t 60 start")
}

// findReplica locates pg_ctl and the replica's data directory
// (FINDASH_TEST_POSTGRES_REPLICA_DIR, default /tmp/findash-pg-replica).
func findReplica(addr string) (replica, error) {
	dir := os.Getenv("FINDASH_TEST_POSTGRES_REPLICA_DIR")
	if dir == "" {
		dir = "/tmp/findash-pg-replica"
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		return replica{}, fmt.Errorf("replica data directory %s: %w", dir, err)
	}
	pgCtl, ok := lookBin("pg_ctl")
	if !ok {
		m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
		if len(m) == 0 {
			return replica{}, errors.New("no pg_ctl in PATH or /usr/lib/postgresql/*/bin")
		}
		pgCtl = m[len(m)-1]
	}
	return replica{pgCtl: pgCtl, dir: dir, addr: addr}, nil
}
