package bus

import (
	"context"
	"time"
)

// OlderThan exposes olderThan to the external tests.
var OlderThan = olderThan

// LastTime returns when the log stored its newest message (the server's
// clock), so tests can pick an instant between two messages.
func (b *Bus) LastTime(ctx context.Context) (time.Time, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return info.State.LastTime, nil
}

// Subscriptions returns the connection's active subscriptions (RelayAlerts
// holds one while it runs).
func (b *Bus) Subscriptions() int { return b.nc.NumSubscriptions() }

// PublishRaw publishes data on subject as is (to send junk).
func (b *Bus) PublishRaw(t interface{ Fatal(...any) }, subject, data string) {
	if err := b.nc.Publish(subject, []byte(data)); err != nil {
		t.Fatal(err)
	}
}
