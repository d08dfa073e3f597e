package bus_test

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type alertRecorder struct {
	mu  sync.Mutex
	got map[int64][]string
	in  chan struct{} // 1-buffered: an alert arrived
}

func (r *alertRecorder) PublishAlert(userID int64, data any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	raw, _ := data.(json.RawMessage)
	r.got[userID] = append(r.got[userID], string(raw))
	select {
	case r.in <- struct{}{}:
	default:
	}
}

func TestAlertsRelay(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer closeBus(t, b)
	rec := &alertRecorder{got: map[int64][]string{}, in: make(chan struct{}, 1)}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	subs := b.Subscriptions() // JetStream's own reply subscription among them
	go func() { done <- b.RelayAlerts(ctx, rec) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RelayAlerts() = %v, want nil after cancel", err)
		}
	}()

	// Once RelayAlerts holds its subscription, the server has it before any
	// later publish on the same connection (NATS keeps a connection's order).
	for deadline := time.Now().Add(10 * time.Second); b.Subscriptions() == subs; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("RelayAlerts did not subscribe within 10s")
		}
	}
	b.PublishAlert(42, map[string]any{"alert_id": 7, "price": 101.5})
	b.PublishAlert(43, map[string]any{"alert_id": 8, "price": 1})
	want := map[int64][]string{42: {`{"alert_id":7,"price":101.5}`}, 43: {`{"alert_id":8,"price":1}`}}
	deadline := time.After(10 * time.Second)
	for {
		rec.mu.Lock()
		got := len(rec.got[42]) + len(rec.got[43])
		diff := cmp.Diff(want, rec.got)
		rec.mu.Unlock()
		if got == 2 {
			if diff != "" {
				t.Errorf("relayed alerts (-want +got):\n%s", diff)
			}
			return
		}
		select {
		case <-rec.in:
		case <-deadline:
			t.Fatalf("%d of 2 alerts relayed within 10s", got)
		}
	}
}
