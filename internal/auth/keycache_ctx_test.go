package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/findash/findash/internal/auth"
)

// TestKeyCacheDoneContextNoLoad: a lookup for a caller whose context has
// already ended returns its error and starts no store read (decision
// 0084's review: a client that hung up got its key read made, uncounted,
// by the cache's own goroutine). Before the fix the read was made.
func TestKeyCacheDoneContextNoLoad(t *testing.T) {
	s := newCachedService(t, auth.KeyCacheConfig{MaxEntries: 10})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	unknown := "fd_" + strings.Repeat("C", 43)
	if _, err := s.Authenticate(ctx, unknown); !errors.Is(err, context.Canceled) {
		t.Errorf("Authenticate(done ctx) = %v, want context.Canceled", err)
	}
	s.cache.Close() // waits for any read the lookup started
	if n := s.keys.readsOf(unknown); n != 0 {
		t.Errorf("store reads for a done context = %d, want 0", n)
	}
	if v := s.lookups("miss"); v != 0 {
		t.Errorf("cache misses for a done context = %v, want 0", v)
	}
}
