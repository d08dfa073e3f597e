package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/findash/findash/internal/market"
)

// alertSubject carries fired alerts from the worker that evaluates them to
// the gateways that hold the users' WebSocket connections. Core NATS, not
// the stream: an alert is also stored as an event (GET /api/v1/alerts/events),
// so a push a disconnected gateway misses is not lost.
const alertSubject = "findash.alerts."

// PublishAlert sends data (JSON-encoded) to every gateway, for userID's
// `alerts` channel. It never blocks on a gateway.
func (b *Bus) PublishAlert(userID int64, data any) {
	body, err := json.Marshal(data)
	if err != nil {
		b.log.Error("encode alert", "user_id", userID, "err", err)
		return
	}
	if err := b.nc.Publish(alertSubject+strconv.FormatInt(userID, 10), body); err != nil {
		b.log.Warn("publish alert", "user_id", userID, "err", err)
	}
}

// AlertSink receives the alerts published by any instance.
type AlertSink interface {
	PublishAlert(userID int64, data any)
}

// RelayAlerts hands every alert published on the bus to sink (as
// json.RawMessage) until ctx ends. NATS delivers them on its own goroutine,
// one at a time; a slow sink delays only later alerts, up to NATS's pending
// limits, beyond which they are dropped (and logged by the slow-consumer
// handler).
func (b *Bus) RelayAlerts(ctx context.Context, sink AlertSink) error {
	sub, err := b.nc.Subscribe(alertSubject+"*", func(m *nats.Msg) {
		id, err := strconv.ParseInt(strings.TrimPrefix(m.Subject, alertSubject), 10, 64)
		if err != nil || !json.Valid(m.Data) {
			b.log.Warn("malformed alert message dropped", "subject", m.Subject)
			return
		}
		sink.PublishAlert(id, json.RawMessage(m.Data))
	})
	if err != nil {
		return fmt.Errorf("subscribe to alerts: %w: %w", market.ErrUnavailable, err)
	}
	<-ctx.Done()
	return sub.Unsubscribe()
}
