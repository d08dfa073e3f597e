package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Get returns the value cached under key (namespaced as <prefix>cache:key)
// and whether it was there. It implements cache.Remote: an error (matching
// market.ErrUnavailable) means Redis could not answer, not a miss.
func (c *Client) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var val []byte
	err := c.do(ctx, "get", func(ctx context.Context) error {
		var err error
		val, err = c.rdb.Get(ctx, c.cfg.Prefix+"cache:"+key).Bytes()
		return err
	})
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return val, true, nil
}

// Set caches val under key for ttl, rounded up to a whole millisecond. It
// implements cache.Remote. A ttl <= 0 stores nothing (an entry that never
// expires is never wanted in a cache) and returns nil.
func (c *Client) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return nil
	}
	ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	return c.do(ctx, "set", func(ctx context.Context) error {
		return c.rdb.Set(ctx, c.cfg.Prefix+"cache:"+key, val, ttl).Err()
	})
}
