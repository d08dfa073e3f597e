package bus_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

type alertRecorder struct {
	mu  sync.Mutex
	got map[int64][]string
}

func (r *alertRecorder) PublishAlert(userID int64, data any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	raw, _ := data.(json.RawMessage)
	r.got[userID] = append(r.got[userID], string(raw))
}

func TestAlertsRelay(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer closeBus(t, b)
	rec := &alertRecorder{got: map[int64][]string{}}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- b.RelayAlerts(ctx, rec) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RelayAlerts() = %v, want nil after cancel", err)
		}
	}()

	deadline := time.Now().Add(5 * time.Second)
	for {
		// The subscription may not be in place at once: publish until seen.
		b.PublishAlert(42, map[string]any{"alert_id": 7, "price": 101.5})
		time.Sleep(20 * time.Millisecond)
		rec.mu.Lock()
		n := len(rec.got[42])
		first := ""
		if n > 0 {
			first = rec.got[42][0]
		}
		rec.mu.Unlock()
		if n > 0 {
			if first != `{"alert_id":7,"price":101.5}` {
				t.Fatalf("relayed alert = %s", first)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no alert relayed within 5s")
		}
	}
}
