package partition_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/partition"
)

// Compile-time check: the bus's leases are what an Owner needs.
var _ partition.Leases = (*bus.Leases)(nil)

// runs records which worker runs which partition's work, and fails the
// test if two ever run the same partition at once.
type runs struct {
	t       *testing.T
	mu      sync.Mutex
	by      map[int]string // partition -> worker running it
	changed chan struct{}  // 1-buffered: something started or stopped
}

func (r *runs) work(id string) partition.Work {
	return func(ctx context.Context, p int) error {
		r.mu.Lock()
		if w, ok := r.by[p]; ok {
			r.t.Errorf("partition %d started by %s while %s runs it", p, id, w)
		}
		r.by[p] = id
		r.mu.Unlock()
		r.signal()
		<-ctx.Done()
		r.mu.Lock()
		delete(r.by, p)
		r.mu.Unlock()
		r.signal()
		return nil
	}
}

func (r *runs) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// count returns how many partitions each worker runs.
func (r *runs) count() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := map[string]int{}
	for _, w := range r.by {
		c[w]++
	}
	return c
}

// waitFor waits until want(count()) holds, failing after limit.
func (r *runs) waitFor(t *testing.T, what string, limit time.Duration, want func(map[string]int) bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for !want(r.count()) {
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("%s: not within %s; runs %v", what, limit, r.count())
		}
	}
	return time.Since(start)
}

// TestOwnersShareAndHandOver: one worker takes all 8 partitions; a second
// one arriving gets half (the first hands them over); when the second
// drains, the first takes its partitions back at once (released, not
// expired); no partition ever runs in two workers.
func TestOwnersShareAndHandOver(t *testing.T) {
	const n = 8
	leases := openLeases(t, "TEST_PARTITIONS")
	r := &runs{t: t, by: map[int]string{}, changed: make(chan struct{}, 1)}
	start := func(id string) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		o := partition.New(leases, n, id, r.work(id), slog.New(slog.NewTextHandler(testWriter{t}, nil)), nil)
		done := make(chan error, 1)
		go func() { done <- o.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run(%s) = %v", id, err)
			}
		}
	}
	stopA := start("a")
	defer stopA()
	r.waitFor(t, "a takes every partition", 10*time.Second, func(c map[string]int) bool { return c["a"] == n })
	stopB := start("b")
	took := r.waitFor(t, "a and b share the partitions", 15*time.Second, func(c map[string]int) bool { return c["a"] == n/2 && c["b"] == n/2 })
	t.Logf("a second worker had its share after %s", took)
	stopB()
	took = r.waitFor(t, "a takes b's partitions back", 5*time.Second, func(c map[string]int) bool { return c["a"] == n })
	t.Logf("a drained worker's partitions moved in %s (lease TTL 3s)", took)
	if took >= 3*time.Second {
		t.Errorf("handover after a drain took %s: the leases expired rather than being released", took)
	}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestWorkThatEndsIsStartedAgain: a partition's work that returns on its
// own (a persister that gave up) is started again at the next renewal, not
// left idle under a lease that still says the partition is owned.
func TestWorkThatEndsIsStartedAgain(t *testing.T) {
	leases := openLeases(t, "TEST_RESTARTS")
	started := make(chan int, 16)
	var mu sync.Mutex
	calls := 0
	work := func(ctx context.Context, p int) error {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		started <- p
		if first {
			return context.DeadlineExceeded // gives up at once, the first time
		}
		<-ctx.Done()
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := partition.New(leases, 1, "w", work, slog.New(slog.NewTextHandler(testWriter{t}, nil)), nil)
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	for i := range 2 {
		select {
		case <-started:
		case <-time.After(15 * time.Second):
			t.Fatalf("partition work started %d times, want 2 (the second after it ended on its own)", i)
		}
	}
}

// openLeases opens a bucket of 3 s leases on an embedded bus closed when t
// ends.
func openLeases(t *testing.T, bucket string) *bus.Leases {
	t.Helper()
	b, err := bus.Open(t.Context(), bus.Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Close(ctx)
	})
	leases, err := b.OpenLeases(t.Context(), bucket, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return leases
}
