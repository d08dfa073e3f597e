package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// faultyKeys is the real store's key lookup with faults injected: a
// failure instead of the read, or a pause after it (the key already read)
// until the test releases it.
type faultyKeys struct {
	db *sqlite.DB

	mu      sync.Mutex
	reads   map[string]int // by hash
	err     error          // returned instead of reading, when set
	pause   chan struct{}  // when set, a read waits on it after reading
	started chan struct{}  // when set, told of each read (before the pause)
}

func (f *faultyKeys) APIKeyByHash(ctx context.Context, hash []byte) (auth.APIKey, error) {
	f.mu.Lock()
	f.reads[string(hash)]++
	err, pause, started := f.err, f.pause, f.started
	f.mu.Unlock()
	if err != nil {
		return auth.APIKey{}, err
	}
	k, err := f.db.APIKeyByHash(ctx, hash)
	if started != nil {
		started <- struct{}{}
	}
	if pause != nil {
		<-pause
	}
	return k, err
}

func (f *faultyKeys) set(fn func(f *faultyKeys)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *faultyKeys) readsOf(secret string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[string(sha(secret))]
}

type revocations struct {
	mu  sync.Mutex
	ids []int64
}

func (r *revocations) PublishKeyRevoked(_ context.Context, id int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
	return nil
}

// cachedService is a Service whose API key lookups go through a KeyCache
// over the faulty lookup of its own store.
type cachedService struct {
	*auth.Service
	db    *sqlite.DB
	keys  *faultyKeys
	cache *auth.KeyCache
	clk   *clock
	reg   *prometheus.Registry
	rev   *revocations
}

func newCachedService(t testing.TB, cfg auth.KeyCacheConfig) *cachedService {
	t.Helper()
	_, db, clk := newService(t)
	return cachedOver(t, db, clk, cfg)
}

// cachedOver builds another instance over db: its own cache, same store.
func cachedOver(t testing.TB, db *sqlite.DB, clk *clock, cfg auth.KeyCacheConfig) *cachedService {
	t.Helper()
	fk := &faultyKeys{db: db, reads: map[string]int{}}
	cfg.Now = clk.Now
	reg := prometheus.NewRegistry()
	cache := auth.NewKeyCache(fk, cfg, nil, reg)
	t.Cleanup(cache.Close)
	rev := &revocations{}
	s := auth.NewService(db, argon2id.New(fastParams, 2), auth.Config{Now: clk.Now, KeyCache: cache, Revocations: rev}, nil)
	return &cachedService{Service: s, db: db, keys: fk, cache: cache, clk: clk, reg: reg, rev: rev}
}

func (s *cachedService) newKey(t *testing.T, email string) (string, auth.APIKey) {
	t.Helper()
	u, err := s.CreateUser(t.Context(), email, "")
	if err != nil {
		t.Fatal(err)
	}
	secret, k, err := s.CreateAPIKey(t.Context(), u.ID, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	return secret, k
}

func (s *cachedService) lookups(result string) float64 {
	return testutil.ToFloat64(mustCollector(s.reg, "findash_auth_apikey_cache_lookups_total", result))
}

// mustCollector returns the counter of name with label value v, gathered.
func mustCollector(reg *prometheus.Registry, name, v string) prometheus.Collector {
	mfs, _ := reg.Gather()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == v {
					c.Add(m.GetCounter().GetValue())
				}
			}
		}
	}
	return c
}

func sha(secret string) []byte {
	h := auth.HashKeyForTest(secret)
	return h
}

var errDown = fmt.Errorf("api key by hash: %w: connection refused", market.ErrUnavailable)

// TestKeyCacheStoreOutage: a key seen before keeps authenticating while
// the store is down, stale, for up to MaxStale past the TTL, with no read
// of the store per request; then it needs the store again (issue 13 item 5).
func TestKeyCacheStoreOutage(t *testing.T) {
	s := newCachedService(t, auth.KeyCacheConfig{TTL: 30 * time.Second, MaxStale: time.Hour, RetryEvery: time.Second})
	ctx := t.Context()
	secret, key := s.newKey(t, "ann@example.com")
	want := auth.Principal{UserID: key.UserID, APIKeyID: key.ID}
	ok := func(when string) {
		t.Helper()
		if p, err := s.Authenticate(ctx, secret); err != nil || p != want {
			t.Fatalf("%s: Authenticate() = %+v, %v; want %+v", when, p, err, want)
		}
	}
	ok("store up")
	s.keys.set(func(f *faultyKeys) { f.err = errDown })
	for range 100 {
		ok("store down, within the TTL")
	}
	if n := s.keys.readsOf(secret); n != 1 {
		t.Errorf("store reads = %d, want 1 (the first lookup)", n)
	}

	s.clk.Add(31 * time.Second)
	ok("store down, past the TTL") // served; a refresh fails in the background
	s.cache.WaitLoads()
	for range 100 {
		ok("store down, stale")
	}
	if n := s.keys.readsOf(secret); n != 2 {
		t.Errorf("store reads = %d, want 2: one failed refresh, then none for RetryEvery", n)
	}
	if v := s.lookups("stale"); v != 100 {
		t.Errorf(`lookups{result="stale"} = %v, want 100`, v)
	}
	s.clk.Add(time.Second)
	ok("store down, stale, retrying")
	s.cache.WaitLoads()
	if n := s.keys.readsOf(secret); n != 3 {
		t.Errorf("store reads = %d, want 3 after RetryEvery", n)
	}

	s.clk.Add(time.Hour)
	if _, err := s.Authenticate(ctx, secret); err == nil || errors.Is(err, auth.ErrUnauthenticated) || !errors.Is(err, market.ErrUnavailable) {
		t.Errorf("Authenticate() past MaxStale with the store down = %v, want ErrUnavailable (503), not ErrUnauthenticated", err)
	}
	s.keys.set(func(f *faultyKeys) { f.err = nil })
	ok("store back")
	if v := s.lookups("hit"); v < 100 {
		t.Errorf(`lookups{result="hit"} = %v, want >= 100`, v)
	}
}

// TestKeyCacheRefreshesInBackground: past the TTL with the store up, the
// cached key answers at once and one read refreshes it.
func TestKeyCacheRefreshesInBackground(t *testing.T) {
	s := newCachedService(t, auth.KeyCacheConfig{TTL: 30 * time.Second})
	secret, _ := s.newKey(t, "ann@example.com")
	if _, err := s.Authenticate(t.Context(), secret); err != nil {
		t.Fatal(err)
	}
	s.clk.Add(31 * time.Second)
	pause := make(chan struct{})
	s.keys.set(func(f *faultyKeys) { f.pause = pause })
	for range 50 { // the refresh is paused: every request answers from the cache
		if _, err := s.Authenticate(t.Context(), secret); err != nil {
			t.Fatalf("Authenticate() during the refresh: %v", err)
		}
	}
	close(pause)
	s.cache.WaitLoads()
	if n := s.keys.readsOf(secret); n != 2 {
		t.Errorf("store reads = %d, want 2 (the first lookup, one refresh)", n)
	}
	for range 10 {
		s.Authenticate(t.Context(), secret)
	}
	if n := s.keys.readsOf(secret); n != 2 {
		t.Errorf("store reads after the refresh = %d, want still 2", n)
	}
}

// TestKeyCacheNegative: an unknown key is remembered for NegativeTTL, and
// a flood of them does not evict the keys in use.
func TestKeyCacheNegative(t *testing.T) {
	s := newCachedService(t, auth.KeyCacheConfig{NegativeTTL: 10 * time.Second, MaxEntries: 10})
	ctx := t.Context()
	secret, _ := s.newKey(t, "ann@example.com")
	if _, err := s.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	unknown := "fd_" + strings.Repeat("B", 43)
	for range 20 {
		if _, err := s.Authenticate(ctx, unknown); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("Authenticate(unknown) = %v, want ErrUnauthenticated", err)
		}
	}
	if n := s.keys.readsOf(unknown); n != 1 {
		t.Errorf("store reads of an unknown key = %d, want 1", n)
	}
	s.clk.Add(10 * time.Second)
	s.Authenticate(ctx, unknown)
	if n := s.keys.readsOf(unknown); n != 2 {
		t.Errorf("store reads of an unknown key after NegativeTTL = %d, want 2", n)
	}
	for i := range 1000 {
		s.Authenticate(ctx, fmt.Sprintf("fd_%043d", i))
	}
	s.keys.set(func(f *faultyKeys) { f.err = errDown })
	if _, err := s.Authenticate(ctx, secret); err != nil {
		t.Errorf("Authenticate(known key) after 1,000 unknown ones, store down: %v", err)
	}
	if n := s.keys.readsOf(secret); n != 1 {
		t.Errorf("store reads of the known key = %d, want 1", n)
	}
}

// TestKeyCacheRevocation: a deleted key stops working at once on the
// instance that deleted it, is announced, and stops on another instance
// when the announcement reaches its cache (what the bus relay does).
func TestKeyCacheRevocation(t *testing.T) {
	a := newCachedService(t, auth.KeyCacheConfig{})
	b := cachedOver(t, a.db, a.clk, auth.KeyCacheConfig{})
	ctx := t.Context()
	secret, key := a.newKey(t, "ann@example.com")
	for _, s := range []*cachedService{a, b} {
		if _, err := s.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.DeleteAPIKey(ctx, key.UserID, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate(deleted key) on the instance that deleted it = %v, want ErrUnauthenticated", err)
	}
	if len(a.rev.ids) != 1 || a.rev.ids[0] != key.ID {
		t.Errorf("revocations announced = %v, want [%d]", a.rev.ids, key.ID)
	}
	// b has not heard yet: its cache still holds the key (bounded by TTL).
	if _, err := b.Authenticate(ctx, secret); err != nil {
		t.Errorf("Authenticate() on the other instance before the announcement: %v", err)
	}
	b.cache.Revoke(key.ID)
	if _, err := b.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate(deleted key) on the other instance after the announcement = %v, want ErrUnauthenticated", err)
	}
}

// TestKeyCacheRevokeOvertakesRead: a read that began before a revocation
// and returns after it answers its caller, but is not cached.
func TestKeyCacheRevokeOvertakesRead(t *testing.T) {
	s := newCachedService(t, auth.KeyCacheConfig{})
	secret, key := s.newKey(t, "ann@example.com")
	pause, started := make(chan struct{}), make(chan struct{}, 1)
	s.keys.set(func(f *faultyKeys) { f.pause, f.started = pause, started })
	done := make(chan error)
	go func() { _, err := s.Authenticate(context.Background(), secret); done <- err }()
	<-started // the key is read; the read has not returned
	s.cache.Revoke(key.ID)
	close(pause)
	if err := <-done; err != nil {
		t.Errorf("Authenticate() whose read began before the revocation: %v", err)
	}
	s.keys.set(func(f *faultyKeys) { f.pause, f.started = nil, nil })
	s.Authenticate(t.Context(), secret)
	if n := s.keys.readsOf(secret); n != 2 {
		t.Errorf("store reads = %d, want 2: the overtaken read was not cached", n)
	}
}

// TestKeyCacheMergesReads: concurrent lookups of a cold key make one read.
func TestKeyCacheMergesReads(t *testing.T) {
	s := newCachedService(t, auth.KeyCacheConfig{})
	secret, _ := s.newKey(t, "ann@example.com")
	pause, started := make(chan struct{}), make(chan struct{}, 1)
	s.keys.set(func(f *faultyKeys) { f.pause, f.started = pause, started })
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	call := func() { defer wg.Done(); _, err := s.Authenticate(context.Background(), secret); errs <- err }
	wg.Add(1)
	go call()
	<-started
	for range 49 {
		wg.Add(1)
		go call()
	}
	// Release once the 49 have had their chance to join: they either join
	// the read in flight or, if they come after it, hit the cache.
	close(pause)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := s.keys.readsOf(secret); n != 1 {
		t.Errorf("store reads = %d, want 1", n)
	}
}

// TestKeyCacheTouch: with the cache, use is still recorded at most once
// per TouchEvery, and never while the store is failing.
func TestKeyCacheTouch(t *testing.T) {
	s := newCachedService(t, auth.KeyCacheConfig{TTL: time.Hour})
	ctx := t.Context()
	secret, key := s.newKey(t, "ann@example.com")
	lastUsed := func() *time.Time {
		keys, err := s.ListAPIKeys(ctx, key.UserID)
		if err != nil || len(keys) != 1 {
			t.Fatalf("ListAPIKeys() = %v, %v", keys, err)
		}
		return keys[0].LastUsedAt
	}
	s.Authenticate(ctx, secret)
	first := s.clk.Now()
	s.clk.Add(30 * time.Second)
	s.Authenticate(ctx, secret)
	if got := lastUsed(); got == nil || !got.Equal(first) {
		t.Errorf("LastUsedAt 30 s later = %v, want %v", got, first)
	}
	s.clk.Add(31 * time.Second)
	s.Authenticate(ctx, secret)
	second := s.clk.Now()
	if got := lastUsed(); got == nil || !got.Equal(second) {
		t.Errorf("LastUsedAt 61 s later = %v, want %v", got, second)
	}
	s.clk.Add(10 * time.Second)
	s.Authenticate(ctx, secret)
	if got := lastUsed(); got == nil || !got.Equal(second) {
		t.Errorf("LastUsedAt 10 s after a touch = %v, want %v (cached entry must remember the touch)", got, second)
	}
}

// BenchmarkAuthenticateCachedKey is an API key's authentication served by
// the cache: the path every POST of ticks takes.
func BenchmarkAuthenticateCachedKey(b *testing.B) {
	s := newCachedService(b, auth.KeyCacheConfig{TTL: time.Hour})
	u, err := s.CreateUser(b.Context(), "bench@example.com", "")
	if err != nil {
		b.Fatal(err)
	}
	secret, _, err := s.CreateAPIKey(b.Context(), u.ID, "ingest")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Authenticate(b.Context(), secret); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(b.Context(), secret); err != nil {
			b.Fatal(err)
		}
	}
}
