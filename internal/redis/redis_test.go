package redis_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/findash/findash/internal/cache"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/redis"
	"github.com/findash/findash/internal/testenv"
)

var _ cache.Remote = (*redis.Client)(nil)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openClient opens a Client on url with cfg, closed on cleanup (the keys
// under the prefix of testenv.Redis are deleted by testenv).
func openClient(tb testing.TB, url string, cfg redis.Config, reg prometheus.Registerer) *redis.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := redis.Open(ctx, url, cfg, discard(), reg)
	if err != nil {
		tb.Fatalf("Open(%q): %v", url, err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return c
}

// rawClient is a plain go-redis client for looking behind the adapter.
func rawClient(tb testing.TB, url string) *goredis.Client {
	tb.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		tb.Fatalf("ParseURL(%q): %v", url, err)
	}
	rdb := goredis.NewClient(opt)
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestCacheRoundTrip(t *testing.T) {
	r := testenv.Redis(t)
	url, prefix := r.URL, r.Prefix
	c := openClient(t, url, redis.Config{Prefix: prefix}, nil)
	ctx := t.Context()

	tests := []struct {
		name    string
		key     string
		val     []byte
		ttl     time.Duration
		wantHit bool
	}{
		{"stored", "quotes:AAPL", []byte(`{"p":1.5}`), 10 * time.Second, true},
		{"empty value", "empty", []byte{}, 10 * time.Second, true},
		{"binary", "bin", []byte{0, 1, 2, 255}, 10 * time.Second, true},
		{"zero ttl stores nothing", "zero", []byte("x"), 0, false},
		{"negative ttl stores nothing", "neg", []byte("x"), -time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Set(ctx, tt.key, tt.val, tt.ttl); err != nil {
				t.Fatalf("Set(%q): %v", tt.key, err)
			}
			got, ok, err := c.Get(ctx, tt.key)
			if err != nil {
				t.Fatalf("Get(%q): %v", tt.key, err)
			}
			if ok != tt.wantHit {
				t.Fatalf("Get(%q) hit = %v, want %v", tt.key, ok, tt.wantHit)
			}
			if tt.wantHit && string(got) != string(tt.val) {
				t.Errorf("Get(%q) = %q, want %q", tt.key, got, tt.val)
			}
		})
	}

	t.Run("namespaced", func(t *testing.T) {
		v, err := rawClient(t, url).Get(ctx, prefix+"cache:quotes:AAPL").Result()
		if err != nil || v != `{"p":1.5}` {
			t.Errorf("raw GET %scache:quotes:AAPL = %q, %v; want the stored value", prefix, v, err)
		}
	})
	t.Run("absent", func(t *testing.T) {
		got, ok, err := c.Get(ctx, "never-set")
		if err != nil || ok || got != nil {
			t.Errorf("Get(never-set) = %q, %v, %v; want nil, false, nil", got, ok, err)
		}
	})
	t.Run("expires", func(t *testing.T) {
		if err := c.Set(ctx, "short", []byte("v"), 150*time.Millisecond); err != nil {
			t.Fatalf("Set: %v", err)
		}
		pttl, err := rawClient(t, url).PTTL(ctx, prefix+"cache:short").Result()
		if err != nil || pttl <= 0 || pttl > 150*time.Millisecond {
			t.Errorf("PTTL = %v, %v; want in (0, 150ms]", pttl, err)
		}
		if _, ok, err := c.Get(ctx, "short"); !ok || err != nil {
			t.Fatalf("Get before expiry = %v, %v; want a hit", ok, err)
		}
		// Redis expires the key by its own clock: look until it has.
		var ok bool
		if !testenv.WaitFor(5*time.Second, func() bool {
			_, ok, err = c.Get(ctx, "short")
			return !ok || err != nil
		}) || err != nil {
			t.Errorf("Get after a 150ms ttl = %v, %v; want a miss within 5s", ok, err)
		}
	})
}

func TestAllowSharedAcrossInstances(t *testing.T) {
	r := testenv.Redis(t)
	url, prefix := r.URL, r.Prefix
	// Two Clients on the same prefix: two instances of findash.
	a := openClient(t, url, redis.Config{Prefix: prefix}, nil)
	b := openClient(t, url, redis.Config{Prefix: prefix}, nil)
	ctx := t.Context()

	const burst = 5
	allowed := 0
	var firstRetry time.Duration
	for i := range 2 * burst {
		c := a
		if i%2 == 1 {
			c = b
		}
		ok, retry, err := c.Allow(ctx, "read:203.0.113.7", 1, burst)
		if err != nil {
			t.Fatalf("Allow #%d: %v", i, err)
		}
		if ok {
			allowed++
			if retry != 0 {
				t.Errorf("Allow #%d = true with retryAfter %v, want 0", i, retry)
			}
		} else if firstRetry == 0 {
			firstRetry = retry
		}
	}
	if allowed != burst {
		t.Errorf("allowed %d of %d requests across two clients, want the burst %d", allowed, 2*burst, burst)
	}
	// At 1/s the next token is at most a second away.
	if firstRetry <= 0 || firstRetry > time.Second {
		t.Errorf("retryAfter = %v, want in (0, 1s]", firstRetry)
	}

	// Another key has its own budget.
	if ok, _, err := b.Allow(ctx, "read:198.51.100.1", 1, burst); !ok || err != nil {
		t.Errorf("Allow(other key) = %v, %v; want true", ok, err)
	}
}

func TestAllowRetryAfter(t *testing.T) {
	r := testenv.Redis(t)
	url := r.URL
	c := openClient(t, url, redis.Config{Prefix: r.Prefix}, nil)
	tests := []struct {
		name      string
		perSecond float64
		burst     int
		wantRetry time.Duration // after the burst is spent
	}{
		{"10 per second", 10, 1, 100 * time.Millisecond},
		{"one every 2 s", 0.5, 1, 2 * time.Second},
		{"one every 4 s, burst 3", 0.25, 3, 4 * time.Second},
		{"20 per second, burst 2", 20, 2, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "k:" + tt.name
			for i := range tt.burst {
				if ok, _, err := c.Allow(t.Context(), key, tt.perSecond, tt.burst); !ok || err != nil {
					t.Fatalf("Allow #%d within the burst = %v, %v; want true", i, ok, err)
				}
			}
			ok, retry, err := c.Allow(t.Context(), key, tt.perSecond, tt.burst)
			if err != nil || ok {
				t.Fatalf("Allow past the burst = %v, %v, %v; want false", ok, retry, err)
			}
			// The test's own round trips eat into the wait a little.
			if retry <= 0 || retry > tt.wantRetry || retry < tt.wantRetry-50*time.Millisecond {
				t.Errorf("retryAfter = %v, want about %v", retry, tt.wantRetry)
			}
		})
	}
}

func TestAllowLimitsRedisCannotCount(t *testing.T) {
	// No Redis needed: these never reach it.
	c, err := redis.Open(t.Context(), "redis://127.0.0.1:1/0", redis.Config{}, discard(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	for _, tt := range []struct {
		perSecond float64
		burst     int
	}{{0, 5}, {-1, 5}, {nan(), 5}, {1, 0}, {1, -3}} {
		if _, _, err := c.Allow(t.Context(), "k", tt.perSecond, tt.burst); !errors.Is(err, market.ErrInvalid) {
			t.Errorf("Allow(%v/s, burst %d) error = %v, want market.ErrInvalid", tt.perSecond, tt.burst, err)
		}
	}
	if ok, _, err := c.Allow(t.Context(), "k", inf(), 1); !ok || err != nil {
		t.Errorf("Allow(+Inf) = %v, %v; want true, nil", ok, err)
	}
}

func TestSessions(t *testing.T) {
	r := testenv.Redis(t)
	url := r.URL
	c := openClient(t, url, redis.Config{Prefix: r.Prefix}, nil)
	ctx := t.Context()

	if _, err := c.Session(ctx, "nope"); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Session(absent) error = %v, want market.ErrNotFound", err)
	}
	if err := c.SetSession(ctx, "s1", 42, time.Minute); err != nil {
		t.Fatalf("SetSession: %v", err)
	}
	if err := c.SetSession(ctx, "s2", 1<<62, time.Minute); err != nil {
		t.Fatalf("SetSession: %v", err)
	}
	got := map[string]int64{}
	for _, id := range []string{"s1", "s2"} {
		uid, err := c.Session(ctx, id)
		if err != nil {
			t.Fatalf("Session(%q): %v", id, err)
		}
		got[id] = uid
	}
	if diff := cmp.Diff(map[string]int64{"s1": 42, "s2": 1 << 62}, got); diff != "" {
		t.Errorf("sessions (-want +got):\n%s", diff)
	}
	if err := c.DeleteSession(ctx, "s1"); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if err := c.DeleteSession(ctx, "s1"); err != nil {
		t.Errorf("DeleteSession(already deleted): %v, want nil", err)
	}
	if _, err := c.Session(ctx, "s1"); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Session(deleted) error = %v, want market.ErrNotFound", err)
	}
	if err := c.SetSession(ctx, "short", 7, 100*time.Millisecond); err != nil {
		t.Fatalf("SetSession: %v", err)
	}
	// Redis expires the session by its own clock: look until it has.
	var err error
	if !testenv.WaitFor(5*time.Second, func() bool {
		_, err = c.Session(ctx, "short")
		return err != nil
	}) || !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Session after a 100ms ttl: error = %v, want market.ErrNotFound within 5s", err)
	}
	if err := c.SetSession(ctx, "bad", 1, 0); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("SetSession(ttl 0) error = %v, want market.ErrInvalid", err)
	}
}

func TestCheck(t *testing.T) {
	r := testenv.Redis(t)
	url := r.URL
	c := openClient(t, url, redis.Config{Prefix: r.Prefix}, nil)
	if err := c.Check(t.Context()); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestUserSessions: the per-user index lists a user's live sessions
// (not another user's, not a deleted or expired one) and ends them all.
func TestUserSessions(t *testing.T) {
	r := testenv.Redis(t)
	c := openClient(t, r.URL, redis.Config{Prefix: r.Prefix}, nil)
	ctx := t.Context()
	for _, s := range []struct {
		id  string
		uid int64
		ttl time.Duration
	}{{"a1", 9, time.Hour}, {"a2", 9, time.Minute}, {"a3", 9, time.Minute}, {"short", 9, 100 * time.Millisecond}, {"b1", 10, time.Hour}} {
		if err := c.SetSession(ctx, s.id, s.uid, s.ttl); err != nil {
			t.Fatalf("SetSession(%s): %v", s.id, err)
		}
	}
	ids := func(uid int64) []string {
		t.Helper()
		ss, err := c.UserSessions(ctx, uid)
		if err != nil {
			t.Fatalf("UserSessions(%d): %v", uid, err)
		}
		var out []string
		for _, s := range ss {
			if !s.ExpiresAt.After(s.CreatedAt) {
				t.Errorf("session %s: expires %v, created %v", s.ID, s.ExpiresAt, s.CreatedAt)
			}
			out = append(out, s.ID)
		}
		slices.Sort(out)
		return out
	}
	if err := c.DeleteSession(ctx, "a3"); err != nil {
		t.Fatal(err)
	}
	if !testenv.WaitFor(5*time.Second, func() bool { return len(ids(9)) == 2 }) {
		t.Fatalf("UserSessions(9) = %v, want [a1 a2] once short expired", ids(9))
	}
	if diff := cmp.Diff([]string{"a1", "a2"}, ids(9)); diff != "" {
		t.Errorf("UserSessions(9) (-want +got):\n%s", diff)
	}
	if err := c.DeleteUserSessions(ctx, 9); err != nil {
		t.Fatalf("DeleteUserSessions: %v", err)
	}
	for _, id := range []string{"a1", "a2"} {
		if _, err := c.Session(ctx, id); !errors.Is(err, market.ErrNotFound) {
			t.Errorf("Session(%s) after DeleteUserSessions: %v, want ErrNotFound", id, err)
		}
	}
	if got := ids(9); len(got) != 0 {
		t.Errorf("UserSessions(9) after DeleteUserSessions = %v", got)
	}
	if diff := cmp.Diff([]string{"b1"}, ids(10)); diff != "" {
		t.Errorf("another user's sessions (-want +got):\n%s", diff)
	}
	if _, err := c.Session(ctx, "b1"); err != nil {
		t.Errorf("another user's session: %v", err)
	}
}
