package bus

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/findash/findash/internal/market"
)

// revokedSubject carries the ids of deleted API keys to every instance,
// whose key caches drop them at once. Core NATS, not the stream: a message
// an instance misses (disconnected at the time) costs at most the cache's
// TTL, after which the instance asks the database again.
const revokedSubject = "findash.apikeys.revoked"

// PublishKeyRevoked tells every instance (this one included) that API key
// keyID was deleted. It returns once the NATS server has the message, or
// an error matching market.ErrUnavailable when ctx (or, without a deadline,
// 2 s) ends first or the connection is down.
func (b *Bus) PublishKeyRevoked(ctx context.Context, keyID int64) error {
	if err := b.nc.Publish(revokedSubject, strconv.AppendInt(nil, keyID, 10)); err != nil {
		return fmt.Errorf("publish api key revocation: %w: %w", market.ErrUnavailable, err)
	}
	if _, ok := ctx.Deadline(); !ok { // FlushWithContext needs one
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("publish api key revocation: %w: %w", market.ErrUnavailable, err)
	}
	return nil
}

// RelayKeyRevocations calls revoke with the id of every API key revocation
// published by any instance until ctx ends. NATS calls it on its own
// goroutine, one at a time; revoke must not block. A malformed message is
// logged and dropped. The subscription survives reconnections.
func (b *Bus) RelayKeyRevocations(ctx context.Context, revoke func(keyID int64)) error {
	sub, err := b.nc.Subscribe(revokedSubject, func(m *nats.Msg) {
		id, err := strconv.ParseInt(string(m.Data), 10, 64)
		if err != nil || id <= 0 {
			b.log.Warn("malformed api key revocation dropped", "bytes", len(m.Data))
			return
		}
		revoke(id)
	})
	if err != nil {
		return fmt.Errorf("subscribe to api key revocations: %w: %w", market.ErrUnavailable, err)
	}
	<-ctx.Done()
	return sub.Unsubscribe()
}
