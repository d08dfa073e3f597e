package argon2id

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A full hasher makes callers wait, and a waiting caller gives up with its ctx.
func TestHasherConcurrencyCap(t *testing.T) {
	h := New(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	if cap(h.sem) != 2 {
		t.Fatalf("semaphore capacity = %d, want 2", cap(h.sem))
	}
	h.sem <- struct{}{}
	h.sem <- struct{}{} // both slots busy
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "0123456789"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Hash() with the hasher full = %v, want DeadlineExceeded", err)
	}
	if _, err := h.Verify(ctx, "0123456789", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify() with the hasher full = %v, want DeadlineExceeded", err)
	}
	<-h.sem // one slot frees: hashing proceeds
	if _, err := h.Hash(t.Context(), "0123456789"); err != nil {
		t.Errorf("Hash() with a free slot: %v", err)
	}
	if len(h.sem) != 1 {
		t.Errorf("after Hash() %d slots held, want 1 (its own released)", len(h.sem))
	}
}

func TestNewAtLeastOne(t *testing.T) {
	if h := New(DefaultParams, 0); cap(h.sem) != 1 {
		t.Errorf("New(_, 0) capacity = %d, want 1", cap(h.sem))
	}
}
