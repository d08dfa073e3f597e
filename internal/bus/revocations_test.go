package bus_test

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestKeyRevocationsRelay: a published revocation reaches the relay (every
// instance runs one, the publisher's included); junk on the subject is
// dropped.
func TestKeyRevocationsRelay(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer closeBus(t, b)
	got := make(chan int64, 4)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	subs := b.Subscriptions()
	go func() { done <- b.RelayKeyRevocations(ctx, func(id int64) { got <- id }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RelayKeyRevocations() = %v, want nil after cancel", err)
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); b.Subscriptions() == subs; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("RelayKeyRevocations did not subscribe within 10s")
		}
	}
	b.PublishRaw(t, "findash.apikeys.revoked", "not a number")
	b.PublishRaw(t, "findash.apikeys.revoked", "-4")
	if err := b.PublishKeyRevoked(t.Context(), 42); err != nil {
		t.Fatalf("PublishKeyRevoked() = %v", err)
	}
	select {
	case id := <-got:
		if id != 42 {
			t.Errorf("relayed revocation = %d, want 42 (junk dropped)", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("revocation not relayed within 10s")
	}
}
