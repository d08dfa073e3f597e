package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/findash/findash/internal/market"
)

// SetSession stores that session id belongs to userID, for ttl (rounded up
// to a whole millisecond; ttl must be > 0). It overwrites an existing id.
func (c *Client) SetSession(ctx context.Context, id string, userID int64, ttl time.Duration) error {
	if ttl <= 0 {
		return market.Invalid("ttl", "must be > 0, got %v", ttl)
	}
	ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	return c.do(ctx, "session_set", func(ctx context.Context) error {
		return c.rdb.Set(ctx, c.sessionKey(id), userID, ttl).Err()
	})
}

// Session returns the user of session id, market.ErrNotFound when there is
// no such session (never created, expired or deleted), or an error matching
// market.ErrUnavailable when Redis cannot answer.
func (c *Client) Session(ctx context.Context, id string) (int64, error) {
	var s string
	err := c.do(ctx, "session_get", func(ctx context.Context) error {
		var err error
		s, err = c.rdb.Get(ctx, c.sessionKey(id)).Result()
		return err
	})
	if errors.Is(err, goredis.Nil) {
		return 0, fmt.Errorf("session: %w", market.ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	uid, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("session: stored user id %q: %w: %w", s, market.ErrUnavailable, err)
	}
	return uid, nil
}

// DeleteSession removes session id; deleting an absent one is not an error.
func (c *Client) DeleteSession(ctx context.Context, id string) error {
	return c.do(ctx, "session_delete", func(ctx context.Context) error {
		return c.rdb.Del(ctx, c.sessionKey(id)).Err()
	})
}

func (c *Client) sessionKey(id string) string { return c.cfg.Prefix + "session:" + id }
