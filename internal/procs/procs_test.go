package procs

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/findash/findash/internal/testenv"
)

func TestPolicy(t *testing.T) {
	cfg := Config{Interval: time.Second, Up: 0.5, Down: 0.45, DownAfter: 4 * time.Second, MaxDownAfter: 16 * time.Second}.withDefaults()
	type step struct {
		n      int     // GOMAXPROCS when the sample was taken
		used   float64 // cores
		waited uint64  // goroutines that waited Wait or longer
		want   int
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"down once a whole window is low", []step{{2, 0.3, 0, 2}, {2, 0.6, 0, 2}, {2, 0.4, 0, 2}, {2, 0.4, 0, 1}}},
		{"not down while the mean is high", []step{{2, 0.3, 0, 2}, {2, 0.9, 0, 2}, {2, 0.3, 0, 2}, {2, 0.4, 0, 2}, {2, 0.3, 0, 2}, {2, 0.3, 0, 1}}},
		{"up after two samples above Up", []step{{1, 0.6, 0, 1}, {1, 0.6, 0, 2}}},
		{"up at once when one P is near full", []step{{1, 0.95, 0, 2}}},
		{"up when work queues on a starved P", []step{{1, 0.3, 3, 1}, {1, 0.3, 1, 2}}},
		{"a single spike is not enough", []step{{1, 0.6, 0, 1}, {1, 0.3, 0, 1}, {1, 0.6, 0, 1}, {1, 0.2, 0, 1}, {1, 0.2, 5, 1}, {1, 0.2, 0, 1}}},
		{"samples before a change are forgotten", []step{
			{2, 0.1, 0, 2}, {2, 0.1, 0, 2}, {2, 0.1, 0, 2}, {2, 0.1, 0, 1}, // down after 4
			{1, 0.95, 0, 2}, // up, within two windows of the drop: the window doubles to 8
			{2, 0.1, 0, 2}, {2, 0.1, 0, 2}, {2, 0.1, 0, 2}, {2, 0.1, 0, 2},
			{2, 0.1, 0, 2}, {2, 0.1, 0, 2}, {2, 0.1, 0, 2}, {2, 0.1, 0, 1},
		}},
		{"at the most, high samples change nothing", []step{{2, 1.9, 0, 2}, {2, 1.9, 9, 2}}},
		{"more than two CPUs", []step{{4, 3.5, 0, 4}, {4, 0.1, 0, 4}, {4, 0.1, 0, 4}, {4, 0.1, 0, 4}, {4, 0.1, 0, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPolicy(cfg)
			now := time.Unix(1e9, 0)
			for i, s := range tc.steps {
				now = now.Add(cfg.Interval)
				if got := p.next(s.n, s.used, s.waited, now); got != s.want {
					t.Fatalf("step %d (%d Ps, %.2f cores, %d waited): %d Ps, want %d", i, s.n, s.used, s.waited, got, s.want)
				}
			}
		})
	}
}

// TestPolicyFlapsSlowDown checks that a load coming back right after each
// drop doubles the wait before the next one, up to MaxDownAfter, and that
// a long stay at one P resets it.
func TestPolicyFlapsSlowDown(t *testing.T) {
	cfg := Config{Interval: time.Second, DownAfter: 2 * time.Second, MaxDownAfter: 8 * time.Second}.withDefaults()
	p := newPolicy(cfg)
	now := time.Unix(1e9, 0)
	// stepsToDrop feeds idle samples at two Ps until the policy drops.
	stepsToDrop := func() int {
		for i := 1; i < 100; i++ {
			now = now.Add(time.Second)
			if p.next(2, 0.1, 0, now) == 1 {
				return i
			}
		}
		t.Fatal("never dropped")
		return 0
	}
	burst := func() {
		now = now.Add(time.Second)
		if got := p.next(1, 0.95, 0, now); got == 1 {
			t.Fatal("a full P did not go up")
		}
	}
	var got []int
	for range 4 {
		got = append(got, stepsToDrop())
		burst()
	}
	if want := []int{2, 4, 8, 8}; !slices.Equal(got, want) {
		t.Fatalf("samples before each drop %v, want %v", got, want)
	}
	stepsToDrop()
	for range 8 { // MaxDownAfter at one P
		now = now.Add(time.Second)
		if p.next(1, 0.1, 0, now) != 1 {
			t.Fatal("went up while idle")
		}
	}
	burst()
	if n := stepsToDrop(); n != 2 {
		t.Fatalf("after a long stay at one P: %d samples before the drop, want DownAfter's 2", n)
	}
}

// TestController runs the controller on this process: idle, it drops to
// one P; busy, it takes every P back; stopped, it restores them.
func TestController(t *testing.T) {
	if why := Disabled(); why != "" {
		t.Skipf("the controller is off here: %s", why)
	}
	most := runtime.GOMAXPROCS(0)
	defer runtime.SetDefaultGOMAXPROCS()
	reg := prometheus.NewRegistry()
	c := New(Config{Interval: 20 * time.Millisecond, DownAfter: 200 * time.Millisecond}, reg, nil)
	ctx, cancel, done := runUntilIdle(t, c)
	if g := testutil.ToFloat64(c.gau); g != 1 {
		t.Fatalf("findash_runtime_procs = %v, want 1", g)
	}
	// A second controller in the process stays out of the way.
	other := New(Config{Interval: 5 * time.Millisecond, DownAfter: 5 * time.Millisecond}, nil, nil)
	otherDone := make(chan error, 1)
	go func() { otherDone <- other.Run(ctx) }()

	var stop atomic.Bool
	for range most {
		go func() {
			for !stop.Load() {
			}
		}()
	}
	if !testenv.WaitFor(10*time.Second, func() bool { return runtime.GOMAXPROCS(0) == most }) {
		stop.Store(true)
		t.Fatalf("GOMAXPROCS %d after 10 s busy, want %d", runtime.GOMAXPROCS(0), most)
	}
	stop.Store(true)
	if !testenv.WaitFor(10*time.Second, func() bool { return runtime.GOMAXPROCS(0) == 1 }) {
		t.Fatalf("GOMAXPROCS %d after 10 s idle again, want 1", runtime.GOMAXPROCS(0))
	}
	if up, down := testutil.ToFloat64(c.sets.WithLabelValues("up")), testutil.ToFloat64(c.sets.WithLabelValues("down")); up < 1 || down < 2 {
		t.Fatalf("changes up %v, down %v; want ≥ 1 and ≥ 2", up, down)
	}

	if n := testutil.ToFloat64(other.sets.WithLabelValues("down")) + testutil.ToFloat64(other.sets.WithLabelValues("up")); n != 0 {
		t.Fatalf("the second controller changed GOMAXPROCS %v times, want 0", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := <-otherDone; err != nil {
		t.Fatalf("the second Run: %v", err)
	}
	if got := runtime.GOMAXPROCS(0); got != most {
		t.Fatalf("GOMAXPROCS %d after Run returned, want %d restored", got, most)
	}
}

// TestWaitedAtLeast checks the scheduling-delay signal on the real
// runtime: goroutines spinning on one P wait for each other.
func TestWaitedAtLeast(t *testing.T) {
	defer runtime.SetDefaultGOMAXPROCS()
	runtime.GOMAXPROCS(1)
	l := newLatencies()
	var stop atomic.Bool
	for range 3 {
		go func() {
			for !stop.Load() {
			}
		}()
	}
	defer stop.Store(true)
	var total uint64
	testenv.WaitFor(10*time.Second, func() bool {
		total += l.waitedAtLeast(10 * time.Millisecond)
		return total > 0
	})
	if total == 0 {
		t.Fatal("three goroutines spinning on one P for 10 s: no wait of 10 ms or more recorded")
	}
}

// TestControllerClockFails checks that a failing CPU clock restores the
// runtime's default and stops adapting without failing the instance.
func TestControllerClockFails(t *testing.T) {
	if why := Disabled(); why != "" {
		t.Skipf("the controller is off here: %s", why)
	}
	defer runtime.SetDefaultGOMAXPROCS()
	most := runtime.GOMAXPROCS(0)
	c := New(Config{Interval: 10 * time.Millisecond, DownAfter: 50 * time.Millisecond}, nil, nil)
	var fail atomic.Bool
	c.cpu = func() (time.Duration, error) {
		if fail.Load() {
			return 0, errors.New("the clock broke")
		}
		return processCPU()
	}
	_, cancel, done := runUntilIdle(t, c)
	fail.Store(true)
	if !testenv.WaitFor(10*time.Second, func() bool { return runtime.GOMAXPROCS(0) == most }) {
		t.Fatalf("GOMAXPROCS %d after the clock failed, want the default %d", runtime.GOMAXPROCS(0), most)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v before its context ended; want it to wait", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v, want nil", err)
	}
}

// runUntilIdle runs c until the test ends, and waits for it to drop to one
// P while the test process idles.
func runUntilIdle(t *testing.T, c *Controller) (context.Context, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	if !testenv.WaitFor(10*time.Second, func() bool { return runtime.GOMAXPROCS(0) == 1 }) {
		t.Fatalf("GOMAXPROCS %d after 10 s idle, want 1", runtime.GOMAXPROCS(0))
	}
	return ctx, cancel, done
}
