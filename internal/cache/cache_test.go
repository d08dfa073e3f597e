package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func newTest[V any](t *testing.T, remote Remote, codec Codec[V]) (*Cache[V], *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := New(Config{Name: "test"}, remote, codec, nil, reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c, reg
}

// counter returns the value of metric name with label layer (any, when
// layer is empty).
func counter(t *testing.T, reg *prometheus.Registry, name, layer string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if layer == "" {
				return m.GetCounter().GetValue()
			}
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "layer" && lp.GetValue() == layer {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestGetLoadsOnceThenHits(t *testing.T) {
	c, reg := newTest[string](t, nil, Codec[string]{})
	var loads int
	load := func(context.Context) (string, error) { loads++; return "v" + strconv.Itoa(loads), nil }
	for i := range 3 {
		got, err := c.Get(t.Context(), "k", time.Minute, load)
		if err != nil || got != "v1" {
			t.Fatalf("Get #%d = %q, %v; want v1, nil", i, got, err)
		}
	}
	if loads != 1 {
		t.Errorf("loads = %d, want 1", loads)
	}
	if h, m := counter(t, reg, "findash_cache_hits_total", "l1"), counter(t, reg, "findash_cache_misses_total", "l1"); h != 2 || m != 1 {
		t.Errorf("l1 hits, misses = %v, %v; want 2, 1", h, m)
	}
}

func TestZeroTTLIsNotStored(t *testing.T) {
	c, _ := newTest[int](t, nil, Codec[int]{})
	var loads int
	load := func(context.Context) (int, error) { loads++; return loads, nil }
	for want := 1; want <= 2; want++ {
		if got, _ := c.Get(t.Context(), "k", 0, load); got != want {
			t.Fatalf("Get = %d, want %d", got, want)
		}
	}
}

func TestTTLExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New(Config{}, nil, Codec[int]{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var loads int
		load := func(context.Context) (int, error) { loads++; return loads, nil }
		get := func() int {
			v, err := c.Get(t.Context(), "k", 200*time.Millisecond, load)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		steps := []struct {
			sleep time.Duration
			want  int
		}{
			{0, 1},
			{150 * time.Millisecond, 1}, // t=150ms: fresh
			{40 * time.Millisecond, 1},  // t=190ms: fresh
			{20 * time.Millisecond, 2},  // t=210ms: expired, reloaded at 210
			{199 * time.Millisecond, 2}, // t=409ms
			{2 * time.Millisecond, 3},   // t=411ms
		}
		for i, s := range steps {
			time.Sleep(s.sleep) // the bubble's fake clock: returns at once, time advanced
			if got := get(); got != s.want {
				t.Errorf("step %d: Get = %d, want %d", i, got, s.want)
			}
		}
	})
}

func TestConcurrentMissLoadsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New(Config{}, nil, Codec[string]{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		release := make(chan struct{})
		var loads atomic.Int32
		load := func(context.Context) (string, error) {
			loads.Add(1)
			<-release
			return "v", nil
		}
		const n = 50
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				v, err := c.Get(context.Background(), "k", time.Second, load)
				if err == nil && v != "v" {
					err = fmt.Errorf("value %q", v)
				}
				errs <- err
			})
		}
		synctest.Wait() // every caller is waiting on the one flight
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Get: %v", err)
			}
		}
		if got := loads.Load(); got != 1 {
			t.Errorf("loads = %d, want 1", got)
		}
	})
}

func TestErrorsAreNotCached(t *testing.T) {
	c, _ := newTest[int](t, nil, Codec[int]{})
	boom := errors.New("boom")
	_, err := c.Get(t.Context(), "k", time.Minute, func(context.Context) (int, error) { return 0, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Get error = %v, want %v", err, boom)
	}
	v, err := c.Get(t.Context(), "k", time.Minute, func(context.Context) (int, error) { return 7, nil })
	if err != nil || v != 7 {
		t.Fatalf("Get after error = %d, %v; want 7, nil", v, err)
	}
}

func TestPanicBecomesError(t *testing.T) {
	c, _ := newTest[int](t, nil, Codec[int]{})
	_, err := c.Get(t.Context(), "k", time.Minute, func(context.Context) (int, error) { panic("oops") })
	if err == nil {
		t.Fatal("Get with a panicking load returned no error")
	}
}

func TestCallerGivesUpFlightGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New(Config{}, nil, Codec[int]{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		release := make(chan struct{})
		load := func(ctx context.Context) (int, error) {
			select {
			case <-release:
				return 42, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		first := make(chan error, 1)
		go func() {
			_, err := c.Get(ctx, "k", time.Minute, load)
			first <- err
		}()
		second := make(chan int, 1)
		go func() {
			v, _ := c.Get(context.Background(), "k", time.Minute, load)
			second <- v
		}()
		synctest.Wait()
		cancel()
		if err := <-first; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller got %v, want context.Canceled", err)
		}
		close(release)
		if v := <-second; v != 42 {
			t.Errorf("other caller got %d, want 42", v)
		}
	})
}

// memRemote is an in-memory Remote, standing in for Redis (whose adapter
// has its own tests against a real server).
type memRemote struct {
	mu   sync.Mutex
	m    map[string][]byte
	ttls map[string]time.Duration
	err  error
}

func (r *memRemote) Get(_ context.Context, key string) ([]byte, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return nil, false, r.err
	}
	b, ok := r.m[key]
	return b, ok, nil
}

func (r *memRemote) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.m[key] = val
	r.ttls[key] = ttl
	return nil
}

var intCodec = Codec[int]{
	Encode: func(v int) ([]byte, error) { return []byte(strconv.Itoa(v)), nil },
	Decode: func(b []byte) (int, error) { return strconv.Atoi(string(b)) },
}

func TestRemoteLayer(t *testing.T) {
	t.Run("l2 hit skips load and fills l1", func(t *testing.T) {
		r := &memRemote{m: map[string][]byte{"k": []byte("5")}, ttls: map[string]time.Duration{}}
		c, reg := newTest(t, r, intCodec)
		load := func(context.Context) (int, error) { t.Fatal("load called on an L2 hit"); return 0, nil }
		for range 2 {
			if v, err := c.Get(t.Context(), "k", time.Minute, load); err != nil || v != 5 {
				t.Fatalf("Get = %d, %v; want 5, nil", v, err)
			}
		}
		if got := counter(t, reg, "findash_cache_hits_total", "l2"); got != 1 {
			t.Errorf("l2 hits = %v, want 1", got)
		}
		if got := counter(t, reg, "findash_cache_hits_total", "l1"); got != 1 {
			t.Errorf("l1 hits = %v, want 1", got)
		}
	})
	t.Run("load writes through to l2", func(t *testing.T) {
		r := &memRemote{m: map[string][]byte{}, ttls: map[string]time.Duration{}}
		c, reg := newTest(t, r, intCodec)
		if v, err := c.Get(t.Context(), "k", time.Minute, func(context.Context) (int, error) { return 9, nil }); err != nil || v != 9 {
			t.Fatalf("Get = %d, %v; want 9, nil", v, err)
		}
		if string(r.m["k"]) != "9" || r.ttls["k"] != time.Minute {
			t.Errorf("remote has %q ttl %v, want \"9\" ttl 1m", r.m["k"], r.ttls["k"])
		}
		if got := counter(t, reg, "findash_cache_misses_total", "l2"); got != 1 {
			t.Errorf("l2 misses = %v, want 1", got)
		}
	})
	t.Run("l2 errors fall back to load", func(t *testing.T) {
		r := &memRemote{m: map[string][]byte{}, ttls: map[string]time.Duration{}, err: errors.New("redis down")}
		c, reg := newTest(t, r, intCodec)
		if v, err := c.Get(t.Context(), "k", time.Minute, func(context.Context) (int, error) { return 3, nil }); err != nil || v != 3 {
			t.Fatalf("Get = %d, %v; want 3, nil", v, err)
		}
		if got := counter(t, reg, "findash_cache_remote_errors_total", ""); got != 2 {
			t.Errorf("remote errors = %v, want 2 (get and set)", got)
		}
	})
	t.Run("remote without codec is refused", func(t *testing.T) {
		if _, err := New(Config{}, &memRemote{}, Codec[int]{}, nil, nil); err == nil {
			t.Error("New with a Remote and no Codec: no error")
		}
	})
}

func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, name := range []string{"a", "b"} {
		c, err := New(Config{Name: name}, nil, Codec[int]{}, nil, reg)
		if err != nil {
			t.Fatalf("New(%q) on a shared registry: %v", name, err)
		}
		c.Close()
	}
}

func TestBoundedSize(t *testing.T) {
	c, err := New(Config{MaxEntries: 100}, nil, Codec[int]{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 1000 {
		c.Get(t.Context(), strconv.Itoa(i), time.Hour, func(context.Context) (int, error) { return i, nil })
	}
	c.l1.CleanUp()
	if n := c.Len(); n > 100 {
		t.Errorf("Len = %d after 1000 inserts, want <= 100", n)
	}
}
