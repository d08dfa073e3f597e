package redis_test

import (
	"errors"
	"testing"
	"time"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/redis"
	"github.com/findash/findash/internal/testenv"
)

// TestSpendSaysWhenTheBudgetIsSpent: Spend counts like Allow, shared by
// two instances, and answers the wait at the last event the limit allows,
// not one event later, so the API refuses the next failed-credential
// lookup before making it (decision 0084).
func TestSpendSaysWhenTheBudgetIsSpent(t *testing.T) {
	r := testenv.Redis(t)
	a := openClient(t, r.URL, redis.Config{Prefix: r.Prefix}, nil)
	b := openClient(t, r.URL, redis.Config{Prefix: r.Prefix}, nil)
	ctx := t.Context()
	const burst = 4
	key := "auth_fail_ip:203.0.113.7"
	for i := range burst - 1 {
		c := a
		if i%2 == 1 {
			c = b
		}
		if wait, err := c.Spend(ctx, key, 1, burst); wait != 0 || err != nil {
			t.Fatalf("Spend #%d of a burst of %d = %v, %v; want 0, nil", i+1, burst, wait, err)
		}
	}
	// The last one the burst allows: counted, and the next is a second away.
	wait, err := b.Spend(ctx, key, 1, burst)
	if err != nil || wait <= 0 || wait > time.Second {
		t.Fatalf("Spend #%d of a burst of %d = %v, %v; want a wait in (0, 1s]", burst, burst, wait, err)
	}
	// Past it: not counted, the same wait (less the round trips).
	if w2, err := a.Spend(ctx, key, 1, burst); err != nil || w2 <= 0 || w2 > wait {
		t.Errorf("Spend past the burst = %v, %v; want a wait in (0, %v]", w2, err, wait)
	}
	if ok, _, err := a.Allow(ctx, key, 1, burst); ok || err != nil {
		t.Errorf("Allow on the spent key = %v, %v; want false (Spend and Allow count the same state)", ok, err)
	}
	// Another client has its own budget.
	if wait, err := a.Spend(ctx, "auth_fail_ip:198.51.100.1", 1, burst); wait != 0 || err != nil {
		t.Errorf("Spend(other key) = %v, %v; want 0, nil", wait, err)
	}
	// A slow rate: the wait is one emission interval (4 s), not the burst's.
	for i := range 2 {
		wait, err = a.Spend(ctx, "slow", 0.25, 2)
		if err != nil || (i == 0) != (wait == 0) {
			t.Fatalf("Spend #%d at 0.25/s burst 2 = %v, %v", i+1, wait, err)
		}
	}
	if wait < 4*time.Second-100*time.Millisecond || wait > 4*time.Second {
		t.Errorf("wait after the burst at 0.25/s = %v, want about 4s", wait)
	}
}

func TestSpendLimitsRedisCannotCount(t *testing.T) {
	// No Redis needed: these never reach it.
	c, err := redis.Open(t.Context(), "redis://127.0.0.1:1/0", redis.Config{}, discard(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	for _, tt := range []struct {
		perSecond float64
		burst     int
	}{{0, 5}, {-1, 5}, {nan(), 5}, {1, 0}} {
		if _, err := c.Spend(t.Context(), "k", tt.perSecond, tt.burst); !errors.Is(err, market.ErrInvalid) {
			t.Errorf("Spend(%v/s, burst %d) error = %v, want market.ErrInvalid", tt.perSecond, tt.burst, err)
		}
	}
	if wait, err := c.Spend(t.Context(), "k", inf(), 1); wait != 0 || err != nil {
		t.Errorf("Spend(+Inf) = %v, %v; want 0, nil", wait, err)
	}
}
