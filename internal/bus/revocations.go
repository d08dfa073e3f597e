package bus

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/findash/findash/internal/market"
)

// Revocations go to every instance on core NATS subjects, not the stream:
// a message an instance misses (disconnected at the time) costs what each
// relay's doc says.
const (
	// revokedSubject carries the ids of deleted API keys, which every
	// instance's key cache drops at once; a missed one costs at most the
	// cache's TTL, after which the instance asks the database again.
	revokedSubject = "findash.apikeys.revoked"
	// sessionsRevokedSubject carries the ids of users one of whose
	// sessions ended (logout, a session revoked, a password reset): every
	// gateway closes their WebSockets.
	sessionsRevokedSubject = "findash.sessions.revoked"
)

// PublishKeyRevoked tells every instance (this one included) that API key
// keyID was deleted. It returns once the NATS server has the message, or
// an error matching market.ErrUnavailable when ctx (or, without a deadline,
// 2 s) ends first or the connection is down.
func (b *Bus) PublishKeyRevoked(ctx context.Context, keyID int64) error {
	return b.publishID(ctx, revokedSubject, "api key revocation", keyID)
}

// RelayKeyRevocations calls revoke with the id of every API key revocation
// published by any instance until ctx ends. NATS calls it on its own
// goroutine, one at a time; revoke must not block. A malformed message is
// logged and dropped. The subscription survives reconnections.
func (b *Bus) RelayKeyRevocations(ctx context.Context, revoke func(keyID int64)) error {
	return b.relayIDs(ctx, revokedSubject, "api key revocation", revoke)
}

// PublishSessionsRevoked tells every instance (this one included) that a
// session of user userID ended, so that their gateways close the user's
// WebSockets. It returns as PublishKeyRevoked does.
func (b *Bus) PublishSessionsRevoked(ctx context.Context, userID int64) error {
	return b.publishID(ctx, sessionsRevokedSubject, "session revocation", userID)
}

// RelaySessionRevocations calls revoked with the user id of every session
// revocation published by any instance until ctx ends, as
// RelayKeyRevocations does. An instance disconnected when one is published
// misses it: the user's WebSockets there stay open (logged by the
// publisher's instance only if the publish itself failed).
func (b *Bus) RelaySessionRevocations(ctx context.Context, revoked func(userID int64)) error {
	return b.relayIDs(ctx, sessionsRevokedSubject, "session revocation", revoked)
}

func (b *Bus) publishID(ctx context.Context, subject, what string, id int64) error {
	if err := b.nc.Publish(subject, strconv.AppendInt(nil, id, 10)); err != nil {
		return fmt.Errorf("publish %s: %w: %w", what, market.ErrUnavailable, err)
	}
	if _, ok := ctx.Deadline(); !ok { // FlushWithContext needs one
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("publish %s: %w: %w", what, market.ErrUnavailable, err)
	}
	return nil
}

func (b *Bus) relayIDs(ctx context.Context, subject, what string, fn func(id int64)) error {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		id, err := strconv.ParseInt(string(m.Data), 10, 64)
		if err != nil || id <= 0 {
			b.log.Warn("malformed "+what+" dropped", "bytes", len(m.Data))
			return
		}
		fn(id)
	})
	if err != nil {
		return fmt.Errorf("subscribe to %ss: %w: %w", what, market.ErrUnavailable, err)
	}
	<-ctx.Done()
	return sub.Unsubscribe()
}
