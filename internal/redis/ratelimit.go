package redis

import (
	"context"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/findash/findash/internal/market"
)

// Allow counts one request under key against a limit of perSecond requests
// per second with bursts of up to burst, shared by every Client on the same
// Redis and prefix (GCRA, github.com/go-redis/redis_rate/v10; the state of a
// key is one Redis string that expires when the bucket is full again).
//
// It returns ok, or false and how long to wait before the request would be
// allowed (for Retry-After). An error means Redis could not decide: it
// matches market.ErrUnavailable (Redis down or the breaker open: fall back to
// an in-process limiter), or market.ErrInvalid when perSecond is not > 0 or
// burst < 1. perSecond = +Inf allows everything without calling Redis.
// The rate is kept to a thousandth of a request per second.
func (c *Client) Allow(ctx context.Context, key string, perSecond float64, burst int) (bool, time.Duration, error) {
	switch {
	case math.IsInf(perSecond, 1):
		return true, 0, nil
	case !(perSecond > 0) || burst < 1:
		return false, 0, market.Invalid("limit", "rate %v/s with burst %d cannot be counted in Redis", perSecond, burst)
	}
	lim := gcraLimit(perSecond, burst)
	var res *redis_rate.Result
	err := c.do(ctx, "allow", func(ctx context.Context) error {
		var err error
		res, err = c.rate.Allow(ctx, c.cfg.Prefix+key, lim)
		return err
	})
	if err != nil {
		return false, 0, err
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	return false, max(res.RetryAfter, time.Millisecond), nil
}

// Spend counts one event under key against the same limit as Allow (and
// the same state: a key is counted by one or the other) and returns how
// long until another would be allowed: 0 while at least one more is. An
// event over the limit already is not counted, and its wait returned.
// Errors as Allow's. The API counts failed credential lookups with it
// (decision 0084): knowing at the last allowed failure that the next is
// over, it refuses the next before its lookup.
func (c *Client) Spend(ctx context.Context, key string, perSecond float64, burst int) (time.Duration, error) {
	switch {
	case math.IsInf(perSecond, 1):
		return 0, nil
	case !(perSecond > 0) || burst < 1:
		return 0, market.Invalid("limit", "rate %v/s with burst %d cannot be counted in Redis", perSecond, burst)
	}
	lim := gcraLimit(perSecond, burst)
	var res *redis_rate.Result
	err := c.do(ctx, "allow", func(ctx context.Context) error {
		var err error
		res, err = c.rate.Allow(ctx, c.cfg.Prefix+key, lim)
		return err
	})
	switch {
	case err != nil:
		return 0, err
	case res.Allowed == 0:
		return max(res.RetryAfter, time.Millisecond), nil
	case res.Remaining >= 1:
		return 0, nil
	}
	// Fewer than one left (Remaining is truncated): the next is allowed
	// once the bucket's theoretical arrival time, ResetAfter from now, is
	// within burst-1 emission intervals.
	interval := lim.Period / time.Duration(lim.Rate)
	return max(res.ResetAfter-time.Duration(burst-1)*interval, time.Millisecond), nil
}

// gcraLimit expresses perSecond as redis_rate's integer Rate per Period:
// only their ratio (the emission interval Period/Rate) and Burst matter.
func gcraLimit(perSecond float64, burst int) redis_rate.Limit {
	if perSecond == math.Trunc(perSecond) && perSecond <= math.MaxInt32 {
		return redis_rate.Limit{Rate: int(perSecond), Period: time.Second, Burst: burst}
	}
	rate := max(int(math.Round(perSecond*1000)), 1)
	return redis_rate.Limit{Rate: rate, Period: 1000 * time.Second, Burst: burst}
}
