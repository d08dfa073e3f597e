// Package hostile_test attacks a real findash process the way a hostile
// client would — bad input, never-reading sockets, floods — and checks that
// no client can hurt another (issue 13). Every test starts the real binary
// with its own data directory and ports; see startServer.
package hostile_test

import (
	"bufio"
	"bytes"
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
	"syscall"
	"testing"
	"time"

	"github.com/findash/findash/internal/testenv"
)

// binary is the findash binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "findash-hostile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "findash")
	build := exec.Command("go", "build", "-o", binary, "github.com/findash/findash/cmd/findash")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build findash:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// options shape one server.
type options struct {
	args []string // extra serve flags
	env  []string // extra environment (KEY=value)
	dir  string   // data directory to reuse (a restart); a fresh one when empty
	// user, when set, is the e-mail of a user created with an API key before
	// the server starts.
	user string
	// wrap, when set, lets a test put a proxy in front of the public
	// listener: it gets the server's address and returns the one clients use.
	wrap func(t *testing.T, addr string) string
	// nofile, when set, is the process's open-file limit (soft and hard),
	// applied with prlimit(1): a test can exhaust file descriptors quickly.
	nofile int
}

// server is one running findash process.
type server struct {
	URL    string // http://host:port of the public listener (possibly wrapped)
	Admin  string // http://host:port of the admin listener
	APIKey string // the key of options.user, if any
	Dir    string // its data directory

	t    *testing.T
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{}
	args []string
	env  []string
	// nofile: see options.nofile.
	nofile int
}

// logBuffer collects a process's output; tail shows its end on failure.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 8<<20 { // a flood test must not grow the test's own memory without bound
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *logBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(l.b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startServer runs `findash serve` at stage 1 (SQLite, embedded NATS), with
// the simulator off so the test controls every tick, and waits for /readyz.
func startServer(t *testing.T, o options) *server {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	adminAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	env := append(os.Environ(),
		"FINDASH_DATA_DIR="+dir,
		"FINDASH_HTTP_ADDR="+httpAddr,
		"FINDASH_ADMIN_ADDR="+adminAddr,
		"FINDASH_FEED=none",
		"FINDASH_LOG_LEVEL=warn",
		"FINDASH_SECRET_KEY=hostile-test-secret-key-0123456789abcdef",
	)
	env = append(env, o.env...)
	s := &server{Admin: "http://" + adminAddr, Dir: dir, t: t, env: env, args: o.args, nofile: o.nofile}
	if o.user != "" {
		s.APIKey = createUser(t, env, o.user)
	}
	s.URL = "http://" + httpAddr
	if o.wrap != nil {
		s.URL = "http://" + o.wrap(t, httpAddr)
	}
	s.start()
	return s
}

func (s *server) start() {
	t := s.t
	t.Helper()
	s.out = &logBuffer{}
	s.done = make(chan struct{})
	s.cmd = exec.Command(binary, append([]string{"serve"}, s.args...)...)
	if s.nofile > 0 { // prlimit execs findash: the pid (RSS, signals) stays findash's
		s.cmd = exec.Command("prlimit", append([]string{fmt.Sprintf("--nofile=%d:%d", s.nofile, s.nofile), binary, "serve"}, s.args...)...)
	}
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start findash: %v", err)
	}
	cmd, done, out := s.cmd, s.done, s.out
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("findash output (tail):\n%s", out.tail(60))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("findash exited at start: %v\n%s", cmd.ProcessState, out.tail(60))
		default:
		}
		if code, _ := s.status(s.Admin + "/readyz"); code == 200 {
			return
		}
		if code, _ := s.status(s.URL + "/readyz"); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("findash not ready within 60s:\n%s", out.tail(60))
		}
		time.Sleep(50 * time.Millisecond) // polling another process's readiness
	}
}

// Stop sends SIGTERM and waits for the process to exit.
func (s *server) Stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("findash did not exit within 30s of SIGTERM:\n%s", s.out.tail(60))
	}
}

// Restart stops the process and starts it again on the same data directory.
func (s *server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Output is the tail of the process's log.
func (s *server) Output(lines int) string { return s.out.tail(lines) }

var client = &http.Client{Timeout: 10 * time.Second}

func (s *server) status(u string) (int, error) {
	resp, err := client.Get(u)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// createUser runs `findash user create --api-key` on the data directory and
// returns the key it prints.
func createUser(t *testing.T, env []string, email string) string {
	t.Helper()
	cmd := exec.Command(binary, "user", "create", "--email", email, "--api-key")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("findash user create: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?i)api key[^:]*: (\S+)`).FindSubmatch(out)
	if m == nil {
		// --quiet style output: the key alone on the last line.
		lines := strings.Fields(strings.TrimSpace(string(out)))
		if len(lines) == 0 {
			t.Fatalf("findash user create printed no API key:\n%s", out)
		}
		return lines[len(lines)-1]
	}
	return string(m[1])
}

// Get fetches a path of the public listener and returns status and body.
func (s *server) Get(path string) (int, string) {
	s.t.Helper()
	resp, err := client.Get(s.URL + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, string(b)
}

// PostTicks posts an NDJSON body with the server's API key.
func (s *server) PostTicks(body string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/ticks", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.APIKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatalf("POST /api/v1/ticks: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// RSS is the process's resident set size in bytes (VmRSS).
func (s *server) RSS() int64 {
	s.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		s.t.Fatalf("read process status: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	s.t.Fatal("no VmRSS in /proc status")
	return 0
}

// Metric sums the samples of a metric on the admin listener whose labels
// include every label=value in match ("" matches all samples).
func (s *server) Metric(name string, match ...string) float64 {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.Admin+"/metrics", nil)
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		ok := true
		for _, m := range match {
			if m != "" && !strings.Contains(rest, m) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}
