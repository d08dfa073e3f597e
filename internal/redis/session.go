package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
)

// SetSession stores that session id belongs to userID, for ttl (rounded up
// to a whole millisecond; ttl must be > 0). It overwrites an existing id.
func (c *Client) SetSession(ctx context.Context, id string, userID int64, ttl time.Duration) error {
	if ttl <= 0 {
		return market.Invalid("ttl", "must be > 0, got %v", ttl)
	}
	ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	now := time.Now()
	expires := now.Add(ttl).UnixMilli()
	index := c.userSessionsKey(userID)
	return c.do(ctx, "session_set", func(ctx context.Context) error {
		// The session and its entry in the user's index (member "id
		// created-ms", score its expiry) in one transaction; the index
		// lives as long as its longest session and keeps at most
		// maxIndexedSessions entries (the oldest dropped).
		_, err := c.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, c.sessionKey(id), userID, ttl)
			p.ZAdd(ctx, index, goredis.Z{Score: float64(expires), Member: id + " " + strconv.FormatInt(now.UnixMilli(), 10)})
			p.ZRemRangeByRank(ctx, index, 0, -maxIndexedSessions-1)
			p.ExpireNX(ctx, index, ttl+time.Second)
			p.ExpireGT(ctx, index, ttl+time.Second)
			return nil
		})
		return err
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

// maxIndexedSessions bounds the sessions one user's index lists (and a
// password reset ends): the oldest beyond it are dropped from the index
// (they still expire on their own).
const maxIndexedSessions = 1000

// UserSessions returns userID's live sessions, oldest first. The index is
// cleaned as it is read: entries past their expiry, or whose session was
// deleted (a logout, a revocation), are removed.
func (c *Client) UserSessions(ctx context.Context, userID int64) ([]auth.KVSession, error) {
	var out []auth.KVSession
	err := c.do(ctx, "session_list", func(ctx context.Context) error {
		key := c.userSessionsKey(userID)
		now := time.Now().UnixMilli()
		if err := c.rdb.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now, 10)).Err(); err != nil {
			return err
		}
		zs, err := c.rdb.ZRangeWithScores(ctx, key, 0, maxIndexedSessions-1).Result()
		if err != nil || len(zs) == 0 {
			return err
		}
		keys := make([]string, len(zs))
		for i, z := range zs {
			id, _, _ := strings.Cut(z.Member.(string), " ")
			keys[i] = c.sessionKey(id)
		}
		vals, err := c.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return err
		}
		var gone []any
		for i, z := range zs {
			member := z.Member.(string)
			id, created, _ := strings.Cut(member, " ")
			if vals[i] == nil {
				gone = append(gone, member)
				continue
			}
			ms, _ := strconv.ParseInt(created, 10, 64)
			out = append(out, auth.KVSession{ID: id, CreatedAt: time.UnixMilli(ms).UTC(), ExpiresAt: time.UnixMilli(int64(z.Score)).UTC()})
		}
		if len(gone) > 0 {
			return c.rdb.ZRem(ctx, key, gone...).Err()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteUserSessions ends every session of userID in its index (a password
// reset).
func (c *Client) DeleteUserSessions(ctx context.Context, userID int64) error {
	return c.do(ctx, "session_delete_user", func(ctx context.Context) error {
		key := c.userSessionsKey(userID)
		members, err := c.rdb.ZRange(ctx, key, 0, -1).Result()
		if err != nil {
			return err
		}
		keys := []string{key}
		for _, m := range members {
			id, _, _ := strings.Cut(m, " ")
			keys = append(keys, c.sessionKey(id))
		}
		return c.rdb.Del(ctx, keys...).Err()
	})
}

func (c *Client) userSessionsKey(userID int64) string {
	return c.cfg.Prefix + "user-sessions:" + strconv.FormatInt(userID, 10)
}
