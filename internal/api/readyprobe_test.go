package api_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/api"
)

// TestReadyzProbesBounded: /readyz is public, answered past the in-flight
// and rate limits (a load balancer must always get an answer), and each
// request ran every check: a database ping, a bucket request to object
// storage, and so on. Anyone could thus make the instance probe its
// dependencies as often as they liked, holding database connections that
// other clients' requests wait for. Concurrent requests now share one
// round of checks, and a round's results answer the requests of the next
// second.
func TestReadyzProbesBounded(t *testing.T) {
	var (
		probes atomic.Int64
		mu     sync.Mutex
		now    = testNow
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newFixture(t, func(_ *api.Config, d *api.Deps) {
		d.Now = clock
		d.Checks = append(d.Checks, api.Check{Name: "counted", Critical: true, Fn: func(context.Context) error {
			probes.Add(1)
			time.Sleep(20 * time.Millisecond) // a round trip, so that requests overlap
			return nil
		}})
	})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			resp, err := f.srv.Client().Get(f.srv.URL + "/readyz")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("/readyz = %d, want 200", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	for range 50 {
		if resp, _ := f.do(t, "GET", "/readyz", nil); resp.StatusCode != 200 {
			t.Fatalf("/readyz = %d, want 200", resp.StatusCode)
		}
	}
	if n := probes.Load(); n != 1 {
		t.Fatalf("100 /readyz requests within a second ran the checks %d times, want 1", n)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	f.do(t, "GET", "/readyz", nil)
	if n := probes.Load(); n != 2 {
		t.Fatalf("a /readyz a second later: the checks ran %d times in all, want 2 (fresh results)", n)
	}
}
