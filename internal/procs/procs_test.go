package procs

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/findash/findash/internal/testenv"
)

func TestPolicy(t *testing.T) {
	cfg := Config{Interval: time.Second, Up: 0.5, Down: 0.45, DownAfter: 4 * time.Second}.withDefaults()
	type step struct {
		n    int     // GOMAXPROCS when the sample was taken
		used float64 // cores
		want int
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"down once a whole window is low", []step{{2, 0.3, 2}, {2, 0.6, 2}, {2, 0.4, 2}, {2, 0.4, 1}}},
		{"not down while the mean is high", []step{{2, 0.3, 2}, {2, 0.9, 2}, {2, 0.3, 2}, {2, 0.4, 2}, {2, 0.3, 2}, {2, 0.3, 1}}},
		{"up after two samples above Up", []step{{1, 0.6, 1}, {1, 0.6, 2}}},
		{"up at once when one P is near full", []step{{1, 0.95, 2}}},
		{"a single spike is not enough", []step{{1, 0.6, 1}, {1, 0.3, 1}, {1, 0.6, 1}, {1, 0.2, 1}}},
		{"samples before a change are forgotten", []step{
			{1, 0.95, 2},                          // up
			{2, 0.1, 2}, {2, 0.1, 2}, {2, 0.1, 2}, // three low samples: not yet a window
			{2, 0.1, 1},
		}},
		{"at the most, high samples change nothing", []step{{2, 1.9, 2}, {2, 1.9, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPolicy(cfg, 2)
			for i, s := range tc.steps {
				if got := p.next(s.n, s.used); got != s.want {
					t.Fatalf("step %d (%d Ps, %.2f cores): %d Ps, want %d", i, s.n, s.used, got, s.want)
				}
			}
		})
	}
}

// TestController runs the controller on this process: idle, it drops to
// one P; busy, it takes every P back; stopped, it restores them.
func TestController(t *testing.T) {
	if why := Disabled(); why != "" {
		t.Skipf("the controller is off here: %s", why)
	}
	most := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(most)
	reg := prometheus.NewRegistry()
	c := New(Config{Interval: 20 * time.Millisecond, DownAfter: 200 * time.Millisecond}, reg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	if !testenv.WaitFor(10*time.Second, func() bool { return runtime.GOMAXPROCS(0) == 1 }) {
		t.Fatalf("GOMAXPROCS %d after 10 s idle, want 1", runtime.GOMAXPROCS(0))
	}
	if g := testutil.ToFloat64(c.gau); g != 1 {
		t.Fatalf("findash_runtime_procs = %v, want 1", g)
	}

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

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := runtime.GOMAXPROCS(0); got != most {
		t.Fatalf("GOMAXPROCS %d after Run returned, want %d restored", got, most)
	}
}
