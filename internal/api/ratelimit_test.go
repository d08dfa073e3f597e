package api

import (
	"strconv"
	"testing"
	"time"
)

func TestLocalLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLocalLimiter(1000, func() time.Time { return now })
	lim := Limit{Rate: 1, Burst: 2}
	for i, want := range []bool{true, true, false} {
		ok, retry, err := l.Allow(t.Context(), "k", lim)
		if err != nil || ok != want {
			t.Fatalf("Allow #%d = %v, %v; want %v", i, ok, err, want)
		}
		if !ok && (retry <= 0 || retry > time.Second) {
			t.Errorf("retryAfter = %v, want (0, 1s]", retry)
		}
	}
	if ok, _, _ := l.Allow(t.Context(), "other", lim); !ok {
		t.Error("another key shares k's bucket")
	}
	now = now.Add(time.Second)
	if ok, _, _ := l.Allow(t.Context(), "k", lim); !ok {
		t.Error("no token after the refill period")
	}
}

// TestLocalLimiterBounded: a flood of distinct keys never grows it far
// beyond its bound.
func TestLocalLimiterBounded(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLocalLimiter(1000, func() time.Time { return now })
	for i := range 100_000 {
		l.Allow(t.Context(), strconv.Itoa(i), Limit{Rate: 1, Burst: 5})
	}
	n := 0
	for i := range l.shards {
		n += len(l.shards[i].m)
	}
	if limit := limiterShards * l.perShard; n > limit {
		t.Errorf("%d keys held, want <= %d", n, limit)
	}
}
