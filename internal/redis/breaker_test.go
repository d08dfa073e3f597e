package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/redis"
	"github.com/findash/findash/internal/testenv"
)

func nan() float64 { return math.NaN() }
func inf() float64 { return math.Inf(1) }

// redisServer is a throwaway redis-server on its own port, never the
// machine's shared one.
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func newRedisServer(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testenv.Skip(t, "redis-server is not in PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &redisServer{t: t, port: port, dir: t.TempDir()}
	t.Cleanup(s.stop)
	s.start()
	return s
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	ready := &readyWriter{ready: make(chan struct{})}
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	s.cmd.Stdout = ready
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	select {
	case <-ready.ready:
	case <-time.After(10 * time.Second):
		s.t.Fatalf("redis-server on port %d did not say it was ready within 10s; it wrote:\n%s", s.port, ready.text())
	}
}

// readyWriter takes redis-server's log and closes ready when the server
// says it accepts connections.
type readyWriter struct {
	mu    sync.Mutex
	buf   []byte
	ready chan struct{}
	seen  bool
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if !w.seen && bytes.Contains(w.buf, []byte("Ready to accept connections")) {
		w.seen = true
		close(w.ready)
	}
	return len(p), nil
}

func (w *readyWriter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// breakerState reads findash_breaker_state{dependency="redis"} from reg.
func breakerState(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	return gather(t, reg, "findash_breaker_state", "dependency", "redis")
}

func gather(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					if g := m.GetGauge(); g != nil {
						return g.GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{%s=%q} not found", name, label, value)
	return 0
}

func TestBreakerFailsFastAndHeals(t *testing.T) {
	srv := newRedisServer(t)
	reg := prometheus.NewRegistry()
	const openFor = 300 * time.Millisecond
	c := openClient(t, srv.url(), redis.Config{Prefix: "findash:test:", BreakerFailures: 3, BreakerOpen: openFor, BreakerProbes: 2}, reg)
	ctx := t.Context()

	if err := c.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set with Redis up: %v", err)
	}
	if got := breakerState(t, reg); got != 0 {
		t.Errorf("breaker state with Redis up = %v, want 0 (closed)", got)
	}

	srv.stop()

	// Failures until the breaker opens; every one is ErrUnavailable.
	opened := false
	for i := 0; i < 20 && !opened; i++ {
		_, _, err := c.Get(ctx, "k")
		if !errors.Is(err, market.ErrUnavailable) {
			t.Fatalf("Get #%d with Redis down: error = %v, want market.ErrUnavailable", i, err)
		}
		opened = errors.Is(err, gobreaker.ErrOpenState)
	}
	if !opened {
		t.Fatal("breaker did not open after 20 failures")
	}
	if got := breakerState(t, reg); got != 2 {
		t.Errorf("breaker state with Redis down = %v, want 2 (open)", got)
	}

	// Open: every kind of call fails at once, without the network.
	calls := map[string]func() error{
		"Get":     func() error { _, _, err := c.Get(ctx, "k"); return err },
		"Set":     func() error { return c.Set(ctx, "k", []byte("v"), time.Minute) },
		"Allow":   func() error { _, _, err := c.Allow(ctx, "k", 10, 10); return err },
		"Session": func() error { _, err := c.Session(ctx, "s"); return err },
		"Check":   func() error { return c.Check(ctx) },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Errorf("%s with the breaker open took %v, want < 50ms", name, d)
		}
		if !errors.Is(err, market.ErrUnavailable) || !errors.Is(err, gobreaker.ErrOpenState) {
			t.Errorf("%s with the breaker open: error = %v, want market.ErrUnavailable and an open breaker", name, err)
		}
	}
	if got := gather(t, reg, "findash_redis_errors_total", "op", "get"); got < 3 {
		t.Errorf("findash_redis_errors_total{op=get} = %v, want >= 3", got)
	}

	srv.start()

	// Heals by itself: once openFor has passed since it opened, calls go
	// through as probes and BreakerProbes successes close it. gobreaker
	// reads the wall clock (no clock to inject), so this waits that period
	// out, looking again every few milliseconds.
	var err error
	if !testenv.WaitFor(10*time.Second, func() bool {
		if err = c.Set(ctx, "k", []byte("again"), time.Minute); err != nil {
			return false
		}
		_, _, err = c.Get(ctx, "k")
		return err == nil && breakerState(t, reg) == 0
	}) {
		t.Fatalf("breaker did not heal within 10s of Redis returning (state %v, last error %v)", breakerState(t, reg), err)
	}
	got, ok, err := c.Get(ctx, "k")
	if err != nil || !ok || string(got) != "again" {
		t.Errorf("Get after healing = %q, %v, %v; want \"again\"", got, ok, err)
	}
}

func TestOpenWithRedisDown(t *testing.T) {
	// Nothing listens on port 1: Open still succeeds (the instance starts
	// degraded) and Check reports the outage, quickly.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	c, err := redis.Open(ctx, "redis://127.0.0.1:1/0", redis.Config{}, discard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("Open with Redis down: %v, want a Client", err)
	}
	defer c.Close()
	start := time.Now()
	if err := c.Check(ctx); !errors.Is(err, market.ErrUnavailable) {
		t.Errorf("Check with Redis down: error = %v, want market.ErrUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Check with Redis down took %v", d)
	}
	if _, err := redis.Open(ctx, "http://nope", redis.Config{}, discard(), nil); err == nil {
		t.Error("Open(http://nope) = nil error, want a URL error")
	}
}

// silentServer accepts connections and never answers: a Redis that hangs.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never read from or written to
		}
	}()
	return "redis://" + l.Addr().String() + "/0"
}

func TestBreakerBoundsAHangingRedis(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := openClient(t, silentServer(t), redis.Config{PoolSize: 20, BreakerFailures: 5, BreakerOpen: time.Minute}, reg)

	// 40 concurrent requests against a Redis that never answers (twice the
	// pool): each ends within the pool wait plus the read timeout (400 ms),
	// capped by CallTimeout (500 ms), not after go-redis's 5 s defaults.
	const n = 40
	start := time.Now()
	errs := make(chan error, n)
	for range n {
		go func() { _, _, err := c.Get(t.Context(), "k"); errs <- err }()
	}
	for range n {
		if err := <-errs; !errors.Is(err, market.ErrUnavailable) {
			t.Errorf("Get on a hanging Redis: error = %v, want market.ErrUnavailable", err)
		}
	}
	t.Logf("%d concurrent Gets on a hanging Redis: %v", n, time.Since(start))
	if d := time.Since(start); d > time.Second {
		t.Errorf("%d concurrent Gets on a hanging Redis took %v, want <= CallTimeout (500ms) plus slack", n, d)
	}
	if got := breakerState(t, reg); got != 2 {
		t.Fatalf("breaker state after %d timeouts = %v, want 2 (open)", n, got)
	}
	start = time.Now()
	if _, _, err := c.Get(t.Context(), "k"); !errors.Is(err, gobreaker.ErrOpenState) {
		t.Errorf("Get with the breaker open: error = %v, want an open breaker", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("Get with the breaker open took %v, want < 50ms", d)
	}
}
